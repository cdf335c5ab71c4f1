package audit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"
)

// maxProblems bounds Report.Problems; the rest are only counted.
const maxProblems = 100

// Problem is one broken link, pinned to a line of a segment.
type Problem struct {
	File string // segment file name, e.g. "audit-000002.jsonl"
	Line int    // 1-based line in File
	Seq  uint64 // the entry's seq; 0 if the line does not parse
	Msg  string // e.g. "entry 1042: prev hash does not match entry 1041"
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Report is the result of Verify.
type Report struct {
	Dir      string
	Segments int
	Entries  int64  // lines that parse as entries
	FirstSeq uint64 // first entry read; 0 for an empty log
	LastSeq  uint64 // last entry read

	// Anchor is set when the log starts after segments removed by
	// retention: the seq of the last removed entry, accounted for by a
	// retention entry in the chain.
	Anchor uint64

	SignaturesChecked bool   // false when Verify had no VerifyFunc
	Checkpoints       int    // checkpoint entries read
	SignedThrough     uint64 // the last checkpoint whose signature verified and whose link is intact; 0: none
	Unsigned          int64  // entries after SignedThrough: chained, not yet signed. Not an error.

	// Torn is set when the log ends in an incomplete line: a write cut
	// short by a crash, never acknowledged, removed by the next Open. Not
	// an error.
	Torn *Problem

	Problems     []Problem // in log order; Problems[0] is the first broken link
	MoreProblems int       // problems beyond the first 100, counted but not kept
}

// OK reports whether every link and checked signature is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// String is a human summary, one fact per line.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "audit log %s: %d segments", r.Dir, r.Segments)
	if r.Entries > 0 {
		fmt.Fprintf(&b, ", entries %d to %d (%d read)", r.FirstSeq, r.LastSeq, r.Entries)
	} else {
		b.WriteString(", no entries")
	}
	b.WriteString("\n")
	if r.Anchor > 0 {
		fmt.Fprintf(&b, "entries up to %d were removed by retention; a retention entry anchors the chain\n", r.Anchor)
	}
	switch {
	case !r.SignaturesChecked:
		fmt.Fprintf(&b, "%d checkpoints; signatures NOT checked (no key given)\n", r.Checkpoints)
	case r.SignedThrough > 0:
		fmt.Fprintf(&b, "%d checkpoints; signed through entry %d\n", r.Checkpoints, r.SignedThrough)
	default:
		fmt.Fprintf(&b, "%d checkpoints; no valid checkpoint signs any entry\n", r.Checkpoints)
	}
	if r.SignaturesChecked && r.Unsigned > 0 {
		fmt.Fprintf(&b, "note: the last %d entries are not covered by a valid checkpoint", r.Unsigned)
		if r.OK() {
			b.WriteString(": chained, to be signed by the next checkpoint")
		}
		b.WriteString("\n")
	}
	if r.Torn != nil {
		fmt.Fprintf(&b, "note: %s\n", r.Torn)
	}
	if r.OK() {
		b.WriteString("OK: every link intact\n")
		return b.String()
	}
	fmt.Fprintf(&b, "FAIL: first broken link: %s\n", r.Problems[0])
	for _, p := range r.Problems[1:] {
		fmt.Fprintf(&b, "also: %s\n", p)
	}
	if r.MoreProblems > 0 {
		fmt.Fprintf(&b, "and %d more problems\n", r.MoreProblems)
	}
	return b.String()
}

// Verify walks the log in dir and checks every line's hash, every link
// (seq and prev), that time never decreases, that the start is entry 1 or
// accounted for by a retention entry, and, when verify is not nil, every
// checkpoint signature. Broken links go in the Report; the error is for
// failures to read the directory. It is safe on a live log; the line being
// written at that moment may show up as Torn.
func Verify(dir string, verify VerifyFunc) (Report, error) {
	rep := Report{Dir: dir, SignaturesChecked: verify != nil}
	segs, err := listSegments(dir)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.Segments = len(segs)
	v := &verifier{rep: &rep, verify: verify, anchors: map[uint64]string{}}
	var lr *lineReader
	for i, s := range segs {
		name := segName(s.num)
		if i > 0 && s.num != segs[i-1].num+1 {
			v.gapHint = fmt.Sprintf(" (segment %s is missing)", segName(segs[i-1].num+1))
			if s.num > segs[i-1].num+2 {
				v.gapHint = fmt.Sprintf(" (segments %s to %s are missing)", segName(segs[i-1].num+1), segName(s.num-1))
			}
		}
		f, err := os.Open(segPath(dir, s.num))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by retention since the listing
		}
		if err != nil {
			return rep, fmt.Errorf("audit: verify: %w", err)
		}
		if lr == nil {
			lr = newLineReader(f)
		} else {
			lr.reset(f, 0, 0)
		}
		err = v.segment(name, lr, i == len(segs)-1)
		f.Close()
		if err != nil {
			return rep, fmt.Errorf("audit: verify %s: %w", name, err)
		}
	}
	v.finish()
	return rep, nil
}

type verifier struct {
	rep     *Report
	verify  VerifyFunc
	anchors map[uint64]string // retention entries: anchor_seq -> anchor
	gapHint string            // appended to the next "missing" message

	started  bool
	resync   bool // the last line did not parse: take the next entry as the new base
	expSeq   uint64
	prevHash [2]string // stored and recomputed hash of the previous entry
	prevTime time.Time

	first struct {
		seq      uint64
		prev     string
		file     string
		line     int
		problems int // problems recorded before it
	}
}

func (v *verifier) problem(file string, line int, seq uint64, format string, args ...any) {
	if len(v.rep.Problems) >= maxProblems {
		v.rep.MoreProblems++
		return
	}
	v.rep.Problems = append(v.rep.Problems, Problem{File: file, Line: line, Seq: seq, Msg: fmt.Sprintf(format, args...)})
}

func (v *verifier) segment(name string, lr *lineReader, last bool) error {
	for {
		line, complete, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !complete {
			if last {
				v.rep.Torn = &Problem{File: name, Line: lr.line,
					Msg: fmt.Sprintf("line %d: incomplete last line (a write cut short by a crash); the next Open removes it", lr.line)}
			} else {
				v.problem(name, lr.line, 0, "line %d: incomplete line (no newline) before the end of the log", lr.line)
				v.resync = true
			}
			return nil
		}
		v.entry(name, lr.line, line)
	}
}

// entry checks one complete line; at most one problem per line.
func (v *verifier) entry(file string, ln int, line []byte) {
	e, err := parseLine(line)
	if err != nil {
		v.problem(file, ln, 0, "line %d: corrupt entry: %v", ln, err)
		v.resync = true
		return
	}
	rep := v.rep
	rep.Entries++
	if rep.FirstSeq == 0 {
		rep.FirstSeq = e.Seq
	}
	rep.LastSeq = max(rep.LastSeq, e.Seq)
	if !v.started {
		v.first.seq, v.first.prev, v.first.file, v.first.line = e.Seq, e.Prev, file, ln
		v.first.problems = len(rep.Problems)
	}
	computed := lineHash(line)
	var msg string
	switch {
	case computed != e.Hash:
		msg = fmt.Sprintf("entry %d: hash does not match the entry's content (edited)", e.Seq)
	case !v.started || v.resync:
	case e.Seq > v.expSeq:
		missing := fmt.Sprintf("entries %d to %d are", v.expSeq, e.Seq-1)
		if e.Seq == v.expSeq+1 {
			missing = fmt.Sprintf("entry %d is", v.expSeq)
		}
		msg = fmt.Sprintf("entry %d: expected entry %d here: %s missing or out of place%s", e.Seq, v.expSeq, missing, v.gapHint)
	case e.Seq < v.expSeq:
		// Out of place: report it and keep the base, so the rest checks on.
		v.problem(file, ln, e.Seq, "entry %d: out of order: comes after entry %d", e.Seq, v.expSeq-1)
		v.gapHint = ""
		return
	case e.Prev != v.prevHash[0] && e.Prev != v.prevHash[1]:
		msg = fmt.Sprintf("entry %d: prev hash does not match entry %d", e.Seq, e.Seq-1)
	case e.Time.Before(v.prevTime):
		msg = fmt.Sprintf("entry %d: time %s is before entry %d's %s", e.Seq,
			e.Time.Format(time.RFC3339Nano), e.Seq-1, v.prevTime.Format(time.RFC3339Nano))
	}
	v.gapHint = ""
	if msg != "" {
		v.problem(file, ln, e.Seq, "%s", msg)
	}
	signed := false
	switch e.Kind {
	case KindCheckpoint:
		rep.Checkpoints++
		switch {
		case v.verify == nil || msg != "":
		case len(e.Signature) == 0:
			v.problem(file, ln, e.Seq, "checkpoint at %d: no signature", e.Seq)
		default:
			if err := v.verify(checkpointMessage(e.Seq-1, e.Prev, e.Time), e.Signature); err != nil {
				msg := fmt.Sprintf("checkpoint at %d: bad signature", e.Seq)
				if !strings.Contains(err.Error(), "bad signature") {
					msg += ": " + err.Error()
				}
				v.problem(file, ln, e.Seq, "%s", msg)
			} else {
				signed = true
			}
		}
	case KindRetention:
		if msg == "" && e.AnchorSeq > 0 {
			v.anchors[e.AnchorSeq] = e.Anchor
		}
	}
	if signed {
		rep.SignedThrough, rep.Unsigned = e.Seq, 0
	} else {
		rep.Unsigned++
	}
	v.started, v.resync = true, false
	v.expSeq, v.prevHash, v.prevTime = e.Seq+1, [2]string{e.Hash, computed}, e.Time
}

// finish checks where the chain starts, now that every retention entry
// has been seen.
func (v *verifier) finish() {
	if !v.started {
		return
	}
	f := v.first
	var msg string
	switch {
	case f.seq == 1:
		if f.prev != GenesisHash {
			msg = "entry 1: prev is not the genesis hash"
		}
	case v.anchors[f.seq-1] == f.prev:
		v.rep.Anchor = f.seq - 1
	default:
		msg = fmt.Sprintf("entry %d: the log starts here, but no retention entry accounts for entries 1 to %d (segments removed?)", f.seq, f.seq-1)
	}
	if msg == "" {
		return
	}
	p := Problem{File: f.file, Line: f.line, Seq: f.seq, Msg: msg}
	if len(v.rep.Problems) >= maxProblems {
		v.rep.MoreProblems++
		v.rep.Problems = v.rep.Problems[:maxProblems-1]
	}
	v.rep.Problems = slices.Insert(v.rep.Problems, min(f.problems, len(v.rep.Problems)), p)
}
