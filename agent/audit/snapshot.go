package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Snapshot is a consistent copy point of a running log, for backups: the
// segments as they were at one durable head, each open and cut at its
// durable size, so later appends, rotation and retention change nothing
// a reader of the snapshot sees.
type Snapshot struct {
	Seq   uint64 // head entry of the snapshot
	Hash  string // its hash
	Files []SnapshotFile
}

// SnapshotFile is one segment of a Snapshot.
type SnapshotFile struct {
	Name string // segment file name, e.g. "audit-000002.jsonl"
	Size int64  // bytes up to the snapshot's head
	f    *os.File
}

// Open returns the segment's content up to Size.
func (s SnapshotFile) Open() io.Reader { return io.NewSectionReader(s.f, 0, s.Size) }

// Close releases the snapshot's files.
func (s *Snapshot) Close() error {
	var errs []error
	for _, f := range s.Files {
		errs = append(errs, f.f.Close())
	}
	return errors.Join(errs...)
}

// Snapshot first appends a checkpoint if anything is unsigned, so the copy
// ends signed unless appends race with it, then takes the durable head and
// opens every segment up to it. Close the snapshot when done.
func (l *Log) Snapshot(ctx context.Context) (*Snapshot, error) {
	if err := l.Checkpoint(ctx); err != nil {
		return nil, fmt.Errorf("audit: snapshot: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("audit: snapshot: %w", ErrClosed)
	}
	snap := &Snapshot{Seq: l.head, Hash: l.headHash}
	for _, s := range l.segs {
		f, err := os.Open(segPath(l.dir, s.num))
		if errors.Is(err, fs.ErrNotExist) && len(snap.Files) == 0 {
			// Retention removes files before it publishes the shorter
			// list, and only after its retention entry is durable: the
			// head taken here already anchors the segments that are gone.
			continue
		}
		if err != nil {
			snap.Close()
			return nil, fmt.Errorf("audit: snapshot: %w", err)
		}
		snap.Files = append(snap.Files, SnapshotFile{Name: segName(s.num), Size: s.size, f: f})
	}
	return snap, nil
}
