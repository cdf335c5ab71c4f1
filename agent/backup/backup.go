// Package backup writes and restores a whole agent data dir as one tar
// archive (gzip optional), taken from a running agent without stopping
// ingest, and restored offline into a data dir no agent uses.
//
// # Archive
//
// Entries, in this order, every file mode 0600:
//
//	identity/..., federation/..., users.json, views.json, admin.token,
//	connector state (opcua/, omf/, ...)   the data dir's files, as they are
//	audit/audit-NNNNNN.jsonl             the audit log up to one durable head
//	store.badger/NNNNNN                  Badger's backup stream, in parts
//	MANIFEST.json                        format, tenant, version, time, and
//	                                     every other entry's size and SHA-256
//
// The manifest comes last because the store's stream is hashed as it is
// written; a reader that has not seen it has not seen a whole archive.
// The store travels as Badger's own backup stream (DB.Backup, a snapshot
// at one read timestamp) rather than its live files, in parts of at most
// PartSize bytes because a tar entry's size must be known before its
// content. Files the agent replaces atomically (rename) are read once and
// so are whole; JSON Lines files that are appended to are cut at their
// last complete line. Names starting with "." (temporary files), lock
// files and anything not a regular file or directory are left out.
package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-edge/sluice/agent/audit"
)

// FormatVersion is the archive format this package writes and reads.
const FormatVersion = 1

// Entry names.
const (
	ManifestName = "MANIFEST.json"
	storePrefix  = "store.badger/"
	auditDir     = "audit"
	storeDir     = "store"
)

// PartSize bounds one part of the store's stream (and so the memory a
// backup holds at once).
const PartSize = 8 << 20

// maxFileSize bounds a data dir file read into memory; such files are
// JSON and PEM, kilobytes to a few megabytes.
const maxFileSize = 256 << 20

// Manifest describes an archive.
type Manifest struct {
	Format       int       `json:"format"`
	TenantID     string    `json:"tenant_id"`
	TenantName   string    `json:"tenant_name,omitempty"`
	AgentVersion string    `json:"agent_version"`
	Created      time.Time `json:"created"`
	Files        []File    `json:"files"`
	Counts       Counts    `json:"counts"`
}

// File is one entry of an archive.
type File struct {
	Name   string `json:"name"` // slash-separated, relative to the data dir
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Counts say what an archive holds, for the operator.
type Counts struct {
	Files        int    `json:"files"`         // data dir files, audit segments included
	Streams      int    `json:"streams"`       // streams in the store
	StoreBytes   int64  `json:"store_bytes"`   // bytes of the store's backup stream
	Records      int    `json:"records"`       // signed federation records
	Users        int    `json:"users"`         // users in users.json
	AuditEntries uint64 `json:"audit_entries"` // seq of the audit head copied
}

// Store is the part of agent/store a backup reads.
type Store interface {
	Backup(ctx context.Context, w io.Writer) error
}

// Audit is the part of agent/audit a backup reads.
type Audit interface {
	Snapshot(ctx context.Context) (*audit.Snapshot, error)
}

// Source is the running agent being backed up.
type Source struct {
	DataDir      string
	Store        Store
	Audit        Audit // nil: the audit dir is copied as files (agent stopped)
	TenantID     string
	TenantName   string
	AgentVersion string
	Streams      int              // for Counts
	Now          func() time.Time // nil: time.Now
	Gzip         bool             // compress the archive
}

// Write writes an archive of src to w and returns its manifest. On an
// error the archive is incomplete (it has no manifest) and must be
// discarded.
func Write(ctx context.Context, w io.Writer, src Source) (*Manifest, error) {
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	m := &Manifest{Format: FormatVersion, TenantID: src.TenantID, TenantName: src.TenantName,
		AgentVersion: src.AgentVersion, Created: now().UTC().Round(time.Millisecond)}
	m.Counts.Streams = src.Streams
	var gz *gzip.Writer
	if src.Gzip {
		gz = gzip.NewWriter(w)
		w = gz
	}
	aw := &archiveWriter{tw: tar.NewWriter(w), m: m}
	if err := aw.dataFiles(src.DataDir, src.Audit == nil); err != nil {
		return nil, err
	}
	if src.Audit != nil {
		snap, err := src.Audit.Snapshot(ctx)
		if err != nil {
			return nil, fmt.Errorf("backup: audit log: %w", err)
		}
		err = aw.auditFiles(snap)
		snap.Close()
		if err != nil {
			return nil, err
		}
		m.Counts.AuditEntries = snap.Seq
	}
	pw := &partWriter{aw: aw, buf: make([]byte, 0, PartSize)}
	if err := src.Store.Backup(ctx, pw); err != nil {
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	if err := pw.flush(); err != nil {
		return nil, err
	}
	m.Counts.StoreBytes = pw.total
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := aw.header(ManifestName, int64(len(mb))); err != nil {
		return nil, err
	}
	if _, err := aw.tw.Write(mb); err != nil {
		return nil, fmt.Errorf("backup: write manifest: %w", err)
	}
	if err := aw.tw.Close(); err != nil {
		return nil, fmt.Errorf("backup: finish archive: %w", err)
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, fmt.Errorf("backup: finish gzip: %w", err)
		}
	}
	return m, nil
}

type archiveWriter struct {
	tw *tar.Writer
	m  *Manifest
}

func (aw *archiveWriter) header(name string, size int64) error {
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o600, ModTime: aw.m.Created,
		Format: tar.FormatPAX}
	if err := aw.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	return nil
}

// add writes one entry from r, which must yield exactly size bytes, and
// lists it in the manifest.
func (aw *archiveWriter) add(name string, size int64, r io.Reader) error {
	if err := aw.header(name, size); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(aw.tw, h), io.LimitReader(r, size))
	if err == nil && n != size {
		err = fmt.Errorf("got %d of %d bytes", n, size)
	}
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	aw.m.Files = append(aw.m.Files, File{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	return nil
}

// dataFiles adds the data dir's own files: everything but the store, the
// audit log (unless withAudit) and what the package doc leaves out.
func (aw *archiveWriter) dataFiles(dir string, withAudit bool) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("backup: data dir: %w", err)
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("backup: read %s: %w", p, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			if name == storeDir || (name == auditDir && !withAudit) || skipName(d.Name()) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || skipName(d.Name()) {
			return nil
		}
		b, err := readWhole(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile (a rotated temporary file)
		}
		if err != nil {
			return fmt.Errorf("backup: read %s: %w", p, err)
		}
		if strings.HasSuffix(name, ".jsonl") {
			// Appended to while we read: keep whole lines only.
			b = b[:bytes.LastIndexByte(b, '\n')+1]
		}
		switch name {
		case "federation/records.jsonl":
			aw.m.Counts.Records = bytes.Count(b, []byte{'\n'})
		case "users.json":
			var u struct {
				Users []json.RawMessage `json:"users"`
			}
			if json.Unmarshal(b, &u) == nil {
				aw.m.Counts.Users = len(u.Users)
			}
		}
		aw.m.Counts.Files++
		return aw.add(name, int64(len(b)), bytes.NewReader(b))
	})
}

func skipName(base string) bool {
	return strings.HasPrefix(base, ".") || base == "LOCK"
}

func readWhole(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB; it does not belong in a data dir", maxFileSize>>20)
	}
	return b, nil
}

func (aw *archiveWriter) auditFiles(s *audit.Snapshot) error {
	for _, f := range s.Files {
		if err := aw.add(auditDir+"/"+f.Name, f.Size, f.Open()); err != nil {
			return err
		}
		aw.m.Counts.Files++
	}
	return nil
}

// partWriter cuts the store's stream into entries of PartSize bytes.
type partWriter struct {
	aw    *archiveWriter
	buf   []byte
	n     int
	total int64
}

func (pw *partWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := min(len(p), PartSize-len(pw.buf))
		pw.buf = append(pw.buf, p[:k]...)
		p, written = p[k:], written+k
		if len(pw.buf) == PartSize {
			if err := pw.flush(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

func (pw *partWriter) flush() error {
	if len(pw.buf) == 0 {
		return nil
	}
	pw.n++
	if err := pw.aw.add(partName(pw.n), int64(len(pw.buf)), bytes.NewReader(pw.buf)); err != nil {
		return err
	}
	pw.total += int64(len(pw.buf))
	pw.buf = pw.buf[:0]
	return nil
}

func partName(n int) string { return fmt.Sprintf("%s%06d", storePrefix, n) }

// Reading.

// openArchive returns a tar reader over r, through gzip if r starts with
// gzip's magic bytes.
func openArchive(r io.Reader) (*tar.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return tar.NewReader(gz), gz.Close, nil
	}
	return tar.NewReader(br), func() error { return nil }, nil
}

// checkName refuses entry names that would land outside the data dir.
func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == ".." ||
		strings.HasPrefix(name, "../") || strings.Contains(name, "\\") {
		return fmt.Errorf("archive entry %q: not a plain relative path", name)
	}
	return nil
}

// Verify reads a whole archive from r and checks it against its manifest:
// every entry listed once with its size and SHA-256, nothing unlisted,
// a known format. It writes nothing.
func Verify(r io.Reader) (*Manifest, error) {
	tr, closeFn, err := openArchive(r)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	seen := map[string]File{}
	var order []string
	var m *Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read archive after %d entries (cut short?): %w", len(order), err)
		}
		if err := checkName(h.Name); err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("archive entry %s: not a regular file", h.Name)
		}
		if m != nil {
			return nil, fmt.Errorf("archive entry %s follows the manifest", h.Name)
		}
		if _, dup := seen[h.Name]; dup {
			return nil, fmt.Errorf("archive entry %s appears twice", h.Name)
		}
		if h.Name == ManifestName {
			b, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return nil, fmt.Errorf("read manifest: %w", err)
			}
			m = &Manifest{}
			if err := json.Unmarshal(b, m); err != nil {
				return nil, fmt.Errorf("manifest: %w", err)
			}
			continue
		}
		hs := sha256.New()
		n, err := io.Copy(hs, tr)
		if err != nil {
			return nil, fmt.Errorf("read archive entry %s (cut short?): %w", h.Name, err)
		}
		seen[h.Name] = File{Name: h.Name, Size: n, SHA256: hex.EncodeToString(hs.Sum(nil))}
		order = append(order, h.Name)
	}
	if m == nil {
		return nil, fmt.Errorf("the archive has no %s: it is cut short or not a sluice backup", ManifestName)
	}
	if m.Format != FormatVersion {
		return nil, fmt.Errorf("archive format %d; this sluice reads format %d", m.Format, FormatVersion)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		got, ok := seen[f.Name]
		switch {
		case !ok:
			return nil, fmt.Errorf("%s is in the manifest but not in the archive", f.Name)
		case got.Size != f.Size:
			return nil, fmt.Errorf("%s: %d bytes, the manifest says %d", f.Name, got.Size, f.Size)
		case got.SHA256 != f.SHA256:
			return nil, fmt.Errorf("%s: SHA-256 does not match the manifest", f.Name)
		}
		listed[f.Name] = true
	}
	for _, name := range order {
		if !listed[name] {
			return nil, fmt.Errorf("archive entry %s is not in the manifest", name)
		}
	}
	return m, nil
}
