package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	segPrefix = "audit-"
	segSuffix = ".jsonl"
)

// segment describes one segment file.
type segment struct {
	num  int
	size int64 // bytes; in a Log's published list, the durable size

	// The first entry, if known (hasFirst). Query and retention use it to
	// skip or remove the previous segment without reading it.
	hasFirst  bool
	firstSeq  uint64
	firstTime time.Time
	firstPrev string
}

func segName(num int) string { return fmt.Sprintf("%s%06d%s", segPrefix, num, segSuffix) }

func segPath(dir string, num int) string { return filepath.Join(dir, segName(num)) }

// listSegments returns the segments in dir, oldest first, with their
// sizes; first entries are not read.
func listSegments(dir string) ([]segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		num, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix))
		if err != nil || num <= 0 || segName(num) != name {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed by retention meanwhile
			}
			return nil, err
		}
		segs = append(segs, segment{num: num, size: fi.Size()})
	}
	slices.SortFunc(segs, func(a, b segment) int { return a.num - b.num })
	return segs, nil
}

// readFirst fills s's first entry from the file, if its first line parses.
func readFirst(dir string, s *segment) error {
	f, err := os.Open(segPath(dir, s.num))
	if err != nil {
		return err
	}
	defer f.Close()
	lr := newLineReader(io.NewSectionReader(f, 0, s.size))
	line, complete, err := lr.next()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	if !complete {
		return nil
	}
	if e, err := parseLine(line); err == nil {
		s.hasFirst, s.firstSeq, s.firstTime, s.firstPrev = true, e.Seq, e.Time, e.Prev
	}
	return nil
}

// lineReader splits a segment into lines, tracking line numbers and
// offsets. Lines longer than MaxLineBytes are returned empty, which makes
// them fail to parse.
type lineReader struct {
	br   *bufio.Reader
	buf  []byte
	off  int64 // offset just past the last line returned
	line int   // 1-based number of the last line returned
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// reset reads r from now on, counting lines and offsets from line and off.
func (lr *lineReader) reset(r io.Reader, off int64, line int) {
	lr.br.Reset(r)
	lr.off, lr.line = off, line
}

// next returns the next line without its '\n', valid until the next call.
// complete is false for trailing bytes with no '\n'. It returns io.EOF at
// the end.
func (lr *lineReader) next() (line []byte, complete bool, err error) {
	lr.buf = lr.buf[:0]
	var n int64
	for {
		chunk, err := lr.br.ReadSlice('\n')
		n += int64(len(chunk))
		if room := MaxLineBytes + 1 - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, chunk[:min(len(chunk), room)]...)
		}
		switch err {
		case nil:
			lr.off += n
			lr.line++
			if n > MaxLineBytes {
				return nil, true, nil // too long: not something Append wrote
			}
			return lr.buf[:len(lr.buf)-1], true, nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			if n == 0 {
				return nil, false, io.EOF
			}
			lr.off += n
			lr.line++
			if n > MaxLineBytes {
				return nil, false, nil
			}
			return lr.buf, false, nil
		default:
			return nil, false, err
		}
	}
}
