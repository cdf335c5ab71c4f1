package store

// Backup, load and a start-up check of Badger's files. A backup is
// Badger's own backup stream (a consistent snapshot at one read
// timestamp, taken while writes go on); loading it goes into a new, empty
// directory that is then opened with Open as usual.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/y"
	"google.golang.org/protobuf/proto"
)

// ErrCorrupt marks a store file that is damaged: the store cannot be opened
// without losing data, so it is not opened at all.
var ErrCorrupt = errors.New("store file is damaged")

// sanityText is what Badger writes at the start of an unencrypted
// KEYREGISTRY, after the IV.
const sanityText = "Hello Badger"

// Backup writes a full backup of the store to w: every key as of the
// moment it starts, however long the stream takes. Writes and reads go on
// meanwhile. It returns when the stream is written, w fails or ctx ends.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	s.closeM.Lock()
	closed := s.closed
	s.closeM.Unlock()
	if closed {
		return ErrClosed
	}
	// Badger's stream does not take a context: a writer that fails once
	// ctx ends stops it at its next batch.
	if _, err := s.db.Backup(ctxWriter{ctx, w}, 0); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("store: backup: %w", ctx.Err())
		}
		return fmt.Errorf("store: backup: %w", err)
	}
	return nil
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Load creates a store in dir, which must not exist or be empty, from a
// stream written by Backup, and closes it. The caller opens it with Open.
func Load(ctx context.Context, dir string, r io.Reader, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return fmt.Errorf("store: load into %s: the directory is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: load into %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: create %s: %w", dir, err)
	}
	// The options Open uses where they shape the files (compression, file
	// sizes); the rest only matter while serving.
	bo := badger.DefaultOptions(dir).
		WithSyncWrites(false). // one sync at Close covers the whole load
		WithLogger(badgerLogger{log}).
		WithLoggingLevel(badger.WARNING).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithCompactL0OnClose(true).
		WithMemTableSize(64 << 20).
		WithValueLogFileSize(256 << 20)
	db, err := badger.Open(bo)
	if err != nil {
		return fmt.Errorf("store: open badger in %s: %w", dir, err)
	}
	err = db.Load(ctxReader{ctx, r}, 256)
	if err == nil {
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: load backup into %s: %w", dir, err)
	}
	privateFiles(dir, log)
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// CheckFiles looks for damage Badger would not report, or would report
// with a panic, before the store in dir is opened: a MANIFEST that is
// cut short, fails its checksum or names a table file that is missing,
// and table files whose index is cut short or fails its checksum (Badger
// panics on those). Errors wrap ErrCorrupt and name the file. A dir
// without a MANIFEST (a new store) passes. It reads each table's footer
// and index, not its data blocks.
func CheckFiles(dir string) error {
	// The key registry starts with a 16-byte IV and, with no encryption
	// key, the plain sanity text Badger checks; Badger's own error does
	// not name the file.
	kpath := filepath.Join(dir, "KEYREGISTRY")
	if b, err := os.ReadFile(kpath); err == nil {
		if len(b) < 16+len(sanityText) || string(b[16:16+len(sanityText)]) != sanityText {
			return fmt.Errorf("store: %s: %w: not a Badger key registry (cut short or overwritten)", kpath, ErrCorrupt)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	mpath := filepath.Join(dir, "MANIFEST")
	f, err := os.Open(mpath)
	if errors.Is(err, fs.ErrNotExist) {
		// A new store has no files yet; tables without a MANIFEST would
		// be ignored and the store would start empty.
		if tables, _ := filepath.Glob(filepath.Join(dir, "*.sst")); len(tables) > 0 {
			return fmt.Errorf("store: %s: %w: missing, while %d table files are there", mpath, ErrCorrupt, len(tables))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	mf, end, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir))
	if err != nil {
		return fmt.Errorf("store: %s: %w: %v", mpath, ErrCorrupt, err)
	}
	if end < fi.Size() {
		// Badger would cut the tail and forget the tables it describes.
		return fmt.Errorf("store: %s: %w: it ends in an incomplete entry (%d of %d bytes are whole entries)",
			mpath, ErrCorrupt, end, fi.Size())
	}
	for id := range mf.Tables {
		path := filepath.Join(dir, fmt.Sprintf("%06d.sst", id))
		if err := checkTable(path); err != nil {
			return err
		}
	}
	// Table files the MANIFEST does not name are left to Badger: a crash
	// between writing a table and recording it leaves one, and Badger
	// deletes it; its data is still in the write-ahead log.
	return nil
}

// checkTable reads a table's footer and index as Badger's initIndex does,
// with bounds checked.
func checkTable(path string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("store: %s: %w: %s", path, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %s: %w: the MANIFEST names it but it is missing", path, ErrCorrupt)
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	size := fi.Size()
	read := func(off, n int64) ([]byte, error) {
		if off < 0 || n < 0 || off+n > size {
			return nil, bad("cut short (%d bytes)", size)
		}
		b := make([]byte, n)
		if _, err := f.ReadAt(b, off); err != nil {
			return nil, fmt.Errorf("store: read %s: %w", path, err)
		}
		return b, nil
	}
	pos := size - 4
	b, err := read(pos, 4)
	if err != nil {
		return err
	}
	chkLen := int64(y.BytesToU32(b))
	pos -= chkLen
	if b, err = read(pos, chkLen); err != nil {
		return err
	}
	var chk pb.Checksum
	if err := proto.Unmarshal(b, &chk); err != nil {
		return bad("unreadable checksum: %v", err)
	}
	pos -= 4
	if b, err = read(pos, 4); err != nil {
		return err
	}
	idxLen := int64(y.BytesToU32(b))
	pos -= idxLen
	if b, err = read(pos, idxLen); err != nil {
		return err
	}
	if err := y.VerifyChecksum(b, &chk); err != nil {
		return bad("index checksum mismatch")
	}
	return nil
}
