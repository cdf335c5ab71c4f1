package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"time"
)

// Filter selects entries. Zero fields match everything.
type Filter struct {
	Since time.Time // entries at or after; zero: from the start
	Until time.Time // entries before; zero: to the end

	FromSeq uint64 // entries with seq >= FromSeq

	Community  string
	Connection string
	Tenant     string // partner tenant id
	Stream     string
	Side       string
	Kinds      []string // any of these kinds
}

func (f *Filter) match(e *Entry) bool {
	switch {
	case e.Seq < f.FromSeq,
		!f.Since.IsZero() && e.Time.Before(f.Since),
		!f.Until.IsZero() && !e.Time.Before(f.Until),
		f.Community != "" && e.Community != f.Community,
		f.Connection != "" && e.Connection != f.Connection,
		f.Tenant != "" && e.Tenant != f.Tenant,
		f.Stream != "" && e.Stream != f.Stream,
		f.Side != "" && e.Side != f.Side,
		len(f.Kinds) > 0 && !slices.Contains(f.Kinds, e.Kind):
		return false
	}
	return true
}

// skips reports whether every entry of a segment is excluded, knowing only
// the first entry of the next segment (seqs increase, times never
// decrease).
func (f *Filter) skips(next *segment) bool {
	if !next.hasFirst {
		return false
	}
	return f.FromSeq > 0 && next.firstSeq <= f.FromSeq ||
		!f.Since.IsZero() && next.firstTime.Before(f.Since)
}

// QueryStats says what a query read.
type QueryStats struct {
	Segments   int   // segments opened
	Lines      int64 // lines read
	Matched    int64 // entries passed to yield
	Unreadable int64 // lines that did not parse, a torn last line included
}

// Query calls yield with every durable entry that matches f, oldest first,
// until yield returns false. It reads the segments without holding up
// Append, and sees the entries durable when it started. It does not check
// hashes (Verify does); lines that do not parse are skipped and counted.
// It returns ctx's error if ctx ends.
func (l *Log) Query(ctx context.Context, f Filter, yield func(Entry) bool) (QueryStats, error) {
	l.mu.Lock()
	segs := slices.Clone(l.segs)
	l.mu.Unlock()
	return query(ctx, l.dir, segs, f, yield)
}

// QueryDir is Query on a directory, without a Log: a copy, or the log of
// a stopped agent. On a live log, a line being written at that moment may
// be counted as skipped.
func QueryDir(ctx context.Context, dir string, f Filter, yield func(Entry) bool) (QueryStats, error) {
	segs, err := listSegments(dir)
	if err != nil {
		return QueryStats{}, fmt.Errorf("audit: %w", err)
	}
	if f.FromSeq > 0 || !f.Since.IsZero() {
		for i := range segs {
			if err := readFirst(dir, &segs[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return QueryStats{}, fmt.Errorf("audit: %w", err)
			}
		}
	}
	return query(ctx, dir, segs, f, yield)
}

// query reads segs, each up to its size.
func query(ctx context.Context, dir string, segs []segment, f Filter, yield func(Entry) bool) (QueryStats, error) {
	var st QueryStats
	var lr *lineReader
	for i := range segs {
		if i+1 < len(segs) && f.skips(&segs[i+1]) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("audit: query: %w", err)
		}
		file, err := os.Open(segPath(dir, segs[i].num))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by retention meanwhile
		}
		if err != nil {
			return st, fmt.Errorf("audit: query: %w", err)
		}
		st.Segments++
		r := io.NewSectionReader(file, 0, segs[i].size)
		if lr == nil {
			lr = newLineReader(r)
		} else {
			lr.reset(r, 0, 0)
		}
		more, err := queryLines(ctx, lr, &f, &st, yield)
		file.Close()
		if err != nil || !more {
			return st, err
		}
	}
	return st, nil
}

func queryLines(ctx context.Context, lr *lineReader, f *Filter, st *QueryStats, yield func(Entry) bool) (more bool, err error) {
	for {
		line, complete, err := lr.next()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("audit: query: %w", err)
		}
		st.Lines++
		if st.Lines%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return false, fmt.Errorf("audit: query: %w", err)
			}
		}
		if !complete {
			st.Unreadable++
			continue
		}
		e, err := parseLine(line)
		if err != nil {
			st.Unreadable++
			continue
		}
		if !f.Until.IsZero() && !e.Time.Before(f.Until) {
			return false, nil // times never decrease: nothing later matches
		}
		if f.match(&e) {
			st.Matched++
			if !yield(e) {
				return false, nil
			}
		}
	}
}

// Tail returns a channel of the entries with seq >= from, those already
// durable first, then each new one as soon as it is durable. from 0 means
// the entries appended from now on. Each commit wakes the tail (no
// polling); a slow reader holds up nobody, it reads from the files at its
// own pace. The channel is closed when ctx ends or the Log is closed.
// Lines that do not parse are skipped.
func (l *Log) Tail(ctx context.Context, from uint64) <-chan Entry {
	out := make(chan Entry, 64)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		close(out)
		return out
	}
	c := &tailCursor{dir: l.dir, next: from}
	if from == 0 {
		c.next = l.head + 1
		if n := len(l.segs); n > 0 { // start at the end, not at the segment's start
			c.num, c.off = l.segs[n-1].num, l.segs[n-1].size
		}
	}
	l.tails.Add(1)
	l.mu.Unlock()
	go l.tail(ctx, c, out)
	return out
}

func (l *Log) tail(ctx context.Context, c *tailCursor, out chan<- Entry) {
	defer l.tails.Done()
	defer close(out)
	defer c.closeFile()
	send := func(e Entry) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
		case <-l.stop:
		}
		return false
	}
	for {
		l.mu.Lock()
		changed := l.changed
		segs := slices.Clone(l.segs[c.index(l.segs):])
		l.mu.Unlock()
		if !c.read(segs, send) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-l.stop:
			return
		}
	}
}

// tailCursor remembers where a Tail is: segment, offset and next seq.
type tailCursor struct {
	dir  string
	next uint64
	num  int   // segment being read; 0: not placed yet
	off  int64 // offset of the next line in it
	line int   // lines before off (for the line reader only)
	f    *os.File
	lr   *lineReader
}

// index returns where in segs the cursor should start reading.
func (c *tailCursor) index(segs []segment) int {
	if c.num == 0 {
		// The last segment starting at or before next.
		i := 0
		for j := range segs {
			if segs[j].hasFirst && segs[j].firstSeq <= c.next {
				i = j
			}
		}
		return i
	}
	i, _ := slices.BinarySearchFunc(segs, c.num, func(s segment, num int) int { return s.num - num })
	return min(i, len(segs))
}

// read sends the entries of segs from the cursor on. It returns false if
// send did.
func (c *tailCursor) read(segs []segment, send func(Entry) bool) bool {
	for _, s := range segs {
		if s.num != c.num {
			c.closeFile()
			c.num, c.off, c.line = s.num, 0, 0
		}
		if c.off >= s.size {
			continue
		}
		if c.f == nil {
			f, err := os.Open(segPath(c.dir, s.num))
			if err != nil {
				continue // removed by retention; the next one follows on
			}
			c.f = f
		}
		r := io.NewSectionReader(c.f, c.off, s.size-c.off)
		if c.lr == nil {
			c.lr = newLineReader(r)
		}
		c.lr.reset(r, c.off, c.line)
		for {
			line, complete, err := c.lr.next()
			if err != nil || !complete {
				break // durable sizes end at a newline; a read error ends this round
			}
			c.off, c.line = c.lr.off, c.lr.line
			e, err := parseLine(line)
			if err != nil || e.Seq < c.next {
				continue
			}
			if !send(e) {
				return false
			}
			c.next = e.Seq + 1
		}
	}
	return true
}

func (c *tailCursor) closeFile() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}
