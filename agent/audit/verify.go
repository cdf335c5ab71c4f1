package audit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxProblems bounds Report.Problems; the rest are only counted.
const maxProblems = 100

// maxLate bounds Report.Late; the rest are only counted in SignedLate.
const maxLate = 10

// Problem is one broken link, pinned to a line of a segment.
type Problem struct {
	File string // segment file name, e.g. "audit-000002.jsonl"
	Line int    // 1-based line in File
	Seq  uint64 // the entry's seq; 0 if the line does not parse
	// Msg says what is wrong and what it means, e.g. "its hash does not
	// match its content: the entry was edited after it was written".
	Msg string
}

// String is the problem as a sentence without its final period: "entry
// #15 in segment audit-000002.jsonl, line 6: its hash does not match ...".
func (p Problem) String() string {
	switch {
	case p.File == "":
		return p.Msg
	case p.Seq == 0:
		return fmt.Sprintf("line %d of segment %s: %s", p.Line, p.File, p.Msg)
	}
	return fmt.Sprintf("entry #%s in segment %s, line %d: %s", num(p.Seq), p.File, p.Line, p.Msg)
}

// SeqRange is the entries From to To, both included.
type SeqRange struct{ From, To uint64 }

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
	// Unsigned counts the entries after SignedThrough: chained, not yet
	// signed, of which UnsignedCross are cross-tenant (CrossTenant). Not
	// an error by itself: a running agent always has a few; a cleanly
	// stopped one has none.
	Unsigned      int64
	UnsignedCross int64

	// SignedLate counts the entries that a checkpoint with reason
	// ReasonUncleanStop signed: left unsigned by a run that did not stop
	// cleanly, signed only when the log was opened again. Late lists the
	// first 10 such runs of entries. Not an error by itself (a crash
	// leaves them), but an edit made while the agent was stopped would
	// look the same.
	SignedLate int64
	Late       []SeqRange
	MoreLate   int // runs beyond the first 10

	// Torn is set when the log ends in an incomplete line: a write cut
	// short by a crash, never acknowledged, removed by the next Open (or,
	// on a live log, the line being written). Not an error.
	Torn *Problem

	// Live is set by Log.Verify: the log is open in this process, which
	// checked that the files end with the entries it wrote.
	Live *Live

	Problems     []Problem // in log order; Problems[0] is the first broken link
	MoreProblems int       // problems beyond the first 100, counted but not kept
}

// Live is what Log.Verify knows of the running log it checked.
type Live struct {
	Head               uint64 // the last entry the log had written when Verify started
	CheckpointEvery    int
	CheckpointInterval time.Duration
	LazyCrossTenant    bool
}

// OK reports whether every link and checked signature is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// String is the report in sentences: on failure the first broken link
// first, then what the chain holds and what is and is not signed.
func (r *Report) String() string {
	var b strings.Builder
	if !r.OK() {
		fmt.Fprintf(&b, "audit log: %s.\n", r.Problems[0])
		if more := len(r.Problems) - 1 + r.MoreProblems; more > 0 {
			fmt.Fprintf(&b, "%s more %s:\n", num(uint64(more)), plural(int64(more), "problem", "problems"))
			for _, p := range r.Problems[1:] {
				fmt.Fprintf(&b, "  %s.\n", p)
			}
			if r.MoreProblems > 0 {
				fmt.Fprintf(&b, "  and %s more, not listed.\n", num(uint64(r.MoreProblems)))
			}
		}
	}
	state := "chain intact"
	if !r.OK() {
		state = "chain BROKEN"
	}
	if r.Entries == 0 {
		fmt.Fprintf(&b, "audit log %s: no entries, %d %s.\n", r.Dir, r.Segments, plural(int64(r.Segments), "segment", "segments"))
		return b.String()
	}
	fmt.Fprintf(&b, "audit log %s: %s %s (#%s to #%s) in %d %s, %s",
		r.Dir, num(uint64(r.Entries)), plural(r.Entries, "entry", "entries"), num(r.FirstSeq), num(r.LastSeq),
		r.Segments, plural(int64(r.Segments), "segment", "segments"), state)
	cps := num(uint64(r.Checkpoints)) + " " + plural(int64(r.Checkpoints), "checkpoint", "checkpoints")
	switch {
	case !r.SignaturesChecked:
		fmt.Fprintf(&b, ", %s; signatures NOT checked (no key given).\n", cps)
	case r.SignedThrough > 0:
		fmt.Fprintf(&b, ", signed through #%s (%s).\n", num(r.SignedThrough), cps)
	default:
		fmt.Fprintf(&b, "; no valid checkpoint signs any entry (%s).\n", cps)
	}
	if r.Anchor > 0 {
		fmt.Fprintf(&b, "Entries up to #%s were removed by retention; a retention entry in the chain accounts for them.\n", num(r.Anchor))
	}
	switch {
	case !r.SignaturesChecked:
	case r.OK():
		r.unsignedText(&b)
	case r.Unsigned > 0:
		// The chain is broken: what is signed or not matters less than
		// the break, and is not interpreted.
		fmt.Fprintf(&b, "%s %s after the last valid checkpoint %s not signed.\n",
			num(uint64(r.Unsigned)), plural(r.Unsigned, "entry", "entries"), plural(r.Unsigned, "is", "are"))
	}
	if r.Torn != nil {
		if r.Live != nil {
			fmt.Fprintf(&b, "The last line (%s line %d) is incomplete: the entry being written at that moment.\n", r.Torn.File, r.Torn.Line)
		} else {
			fmt.Fprintf(&b, "The last line (%s line %d) is incomplete: a write cut short by a crash, never acknowledged; the next start removes it.\n",
				r.Torn.File, r.Torn.Line)
		}
	}
	return b.String()
}

// unsignedText says what is not signed, or was signed late, and whether
// that is normal.
func (r *Report) unsignedText(b *strings.Builder) {
	const crossCheck = "the partner's log can confirm the reads among them (sluice audit verify --against)"
	after := "after the last checkpoint"
	if r.SignedThrough == 0 {
		after = "with no valid checkpoint after them"
	}
	switch {
	case r.Unsigned == 0:
		b.WriteString("Every entry is covered by a signed checkpoint: 0 unsigned.\n")
	case r.Live != nil:
		l := r.Live
		fmt.Fprintf(b, "%s %s %s (%s) %s not yet signed. ",
			num(uint64(r.Unsigned)), plural(r.Unsigned, "entry", "entries"), after, seqRange(r.LastSeq-uint64(r.Unsigned)+1, r.LastSeq),
			plural(r.Unsigned, "is", "are"))
		fmt.Fprintf(b, "That is normal while the agent runs: it signs every %d entries or %s", l.CheckpointEvery, l.CheckpointInterval)
		if !l.LazyCrossTenant {
			b.WriteString(", at once after partner reads and other cross-tenant events,")
		}
		b.WriteString(" and everything when it stops cleanly; and it checked that the log on disk ends with the entries it wrote.\n")
	default:
		fmt.Fprintf(b, "%s %s %s (%s) %s not signed",
			num(uint64(r.Unsigned)), plural(r.Unsigned, "entry", "entries"), after, seqRange(r.LastSeq-uint64(r.Unsigned)+1, r.LastSeq),
			plural(r.Unsigned, "is", "are"))
		if r.UnsignedCross > 0 {
			fmt.Fprintf(b, " (%s of them partner reads or other cross-tenant events)", num(uint64(r.UnsignedCross)))
		}
		fmt.Fprintf(b, ". A cleanly stopped agent leaves none: the agent crashed or was killed, or the log was copied while it ran, "+
			"or its end was cut and rewritten; %s.\n", crossCheck)
	}
	if r.SignedLate == 0 {
		return
	}
	var ranges []string
	for _, g := range r.Late {
		ranges = append(ranges, seqRange(g.From, g.To))
	}
	if r.MoreLate > 0 {
		ranges = append(ranges, fmt.Sprintf("and %d more runs", r.MoreLate))
	}
	fmt.Fprintf(b, "%s %s (%s) %s signed only when the agent restarted after an unclean stop: "+
		"a crash or kill explains that, but so would an edit made while the agent was stopped; %s.\n",
		num(uint64(r.SignedLate)), plural(r.SignedLate, "entry", "entries"), strings.Join(ranges, ", "),
		plural(r.SignedLate, "was", "were"), crossCheck)
}

// seqRange is "#from to #to", or "#from" if they are the same.
func seqRange(from, to uint64) string {
	if from == to {
		return "#" + num(from)
	}
	return "#" + num(from) + " to #" + num(to)
}

// num formats n with thousands separators: 12,345.
func num(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Verify walks the log in dir and checks every line's hash, every link
// (seq and prev), that time never decreases, that the start is entry 1 or
// accounted for by a retention entry, and, when verify is not nil, every
// checkpoint signature; it counts the entries after the last valid
// checkpoint and those signed only after an unclean stop. Broken links go
// in the Report; the error is for failures to read the directory. It is
// safe on a live log; the line being written at that moment may show up
// as Torn. On the log of a running agent, Log.Verify checks more.
func Verify(dir string, verify VerifyFunc) (Report, error) {
	return verifyDir(dir, verify, nil)
}

// Verify is Verify on the log's directory plus a check only the process
// holding the log can make: that the files hold, as entry #head, the
// entry with the hash it holds in memory. Through the hash chain, that
// covers every entry up to the head, signed or not, so an edit of the
// files under the running agent is found even before a checkpoint signs
// the entries it changed. It sets Report.Live.
func (l *Log) Verify(verify VerifyFunc) (Report, error) {
	seq, hash := l.Head()
	live := &Live{Head: seq, CheckpointEvery: l.opts.CheckpointEvery,
		CheckpointInterval: l.opts.CheckpointInterval, LazyCrossTenant: l.opts.LazyCrossTenant}
	return verifyDir(l.dir, verify, &liveHead{Live: live, hash: hash})
}

type liveHead struct {
	*Live
	hash  string
	found bool
}

func verifyDir(dir string, verify VerifyFunc, live *liveHead) (Report, error) {
	rep := Report{Dir: dir, SignaturesChecked: verify != nil}
	if live != nil {
		rep.Live = live.Live
	}
	segs, err := listSegments(dir)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: %w", err)
	}
	rep.Segments = len(segs)
	v := &verifier{rep: &rep, verify: verify, anchors: map[uint64]string{}, live: live}
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
	live    *liveHead         // nil unless Log.Verify

	started  bool
	resync   bool // the last line did not parse: take the next entry as the new base
	expSeq   uint64
	prevHash [2]string // stored and recomputed hash of the previous entry
	prevTime time.Time
	lastFile string
	lastLine int

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
					Msg: "incomplete last line (a write cut short by a crash); the next Open removes it"}
			} else {
				v.problem(name, lr.line, 0, "the line is incomplete (no newline) but is not the end of the log: the file was cut or damaged")
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
		v.problem(file, ln, 0, "corrupt line (%v): the file was damaged or edited", err)
		v.resync = true
		return
	}
	rep := v.rep
	rep.Entries++
	if rep.FirstSeq == 0 {
		rep.FirstSeq = e.Seq
	}
	rep.LastSeq = max(rep.LastSeq, e.Seq)
	v.lastFile, v.lastLine = file, ln
	if !v.started {
		v.first.seq, v.first.prev, v.first.file, v.first.line = e.Seq, e.Prev, file, ln
		v.first.problems = len(rep.Problems)
	}
	computed := lineHash(line)
	var msg string
	switch {
	case computed != e.Hash:
		msg = "its hash does not match its content: the entry was edited after it was written"
	case !v.started || v.resync:
	case e.Seq > v.expSeq:
		missing := fmt.Sprintf("entries #%s to #%s are", num(v.expSeq), num(e.Seq-1))
		if e.Seq == v.expSeq+1 {
			missing = fmt.Sprintf("entry #%s is", num(v.expSeq))
		}
		msg = fmt.Sprintf("expected entry #%s here: %s missing or out of place%s: entries were removed or moved",
			num(v.expSeq), missing, v.gapHint)
	case e.Seq < v.expSeq:
		// Out of place: report it and keep the base, so the rest checks on.
		v.problem(file, ln, e.Seq, "out of order, after entry #%s: entries were moved or replayed", num(v.expSeq-1))
		v.gapHint = ""
		return
	case e.Prev != v.prevHash[0] && e.Prev != v.prevHash[1]:
		msg = fmt.Sprintf("its prev hash does not match entry #%s: the entry before it was changed, or this one was put in its place",
			num(e.Seq-1))
	case e.Time.Before(v.prevTime):
		msg = fmt.Sprintf("its time %s is before entry #%s's %s: the log was edited (the agent never writes a time earlier than the last)",
			e.Time.Format(time.RFC3339Nano), num(e.Seq-1), v.prevTime.Format(time.RFC3339Nano))
	}
	if h := v.live; msg == "" && h != nil && e.Seq == h.Head {
		h.found = true
		if e.Hash != h.hash {
			msg = "this is not the entry the running agent wrote under this number (its hash differs from the one the agent holds): " +
				"the files were changed under the running agent"
		}
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
			v.problem(file, ln, e.Seq, "a checkpoint without a signature: it was forged or damaged, so it attests nothing")
		default:
			if err := v.verify(checkpointMessage(e.Seq-1, e.Prev, e.Time, e.Reason), e.Signature); err != nil {
				msg := "the checkpoint's signature does not verify with the tenant key: it was forged, so the entries before it may have been rewritten"
				if !strings.Contains(err.Error(), "bad signature") {
					msg += " (" + err.Error() + ")"
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
	switch {
	case signed:
		if e.Reason == ReasonUncleanStop && rep.Unsigned > 0 {
			rep.SignedLate += rep.Unsigned
			if len(rep.Late) < maxLate {
				rep.Late = append(rep.Late, SeqRange{From: e.Seq - uint64(rep.Unsigned), To: e.Seq - 1})
			} else {
				rep.MoreLate++
			}
		}
		rep.SignedThrough, rep.Unsigned, rep.UnsignedCross = e.Seq, 0, 0
	default:
		rep.Unsigned++
		if CrossTenant(&e) {
			rep.UnsignedCross++
		}
	}
	v.started, v.resync = true, false
	v.expSeq, v.prevHash, v.prevTime = e.Seq+1, [2]string{e.Hash, computed}, e.Time
}

// finish checks where the chain starts, now that every retention entry
// has been seen, and, on a live log, that the head was there.
func (v *verifier) finish() {
	if h := v.live; h != nil && h.Head > 0 && !h.found && v.rep.LastSeq < h.Head {
		if v.rep.Entries == 0 {
			v.problem("", 0, 0, "the log holds no entries, but the running agent has written up to #%s: entries were removed under it", num(h.Head))
		} else {
			v.problem(v.lastFile, v.lastLine, v.rep.LastSeq, "the log ends here, but the running agent has written up to #%s: entries were removed under it",
				num(h.Head))
		}
	}
	if !v.started {
		return
	}
	f := v.first
	var msg string
	switch {
	case f.seq == 1:
		if f.prev != GenesisHash {
			msg = "its prev is not the genesis hash, as entry #1's must be: the start of the log was edited"
		}
	case v.anchors[f.seq-1] == f.prev:
		v.rep.Anchor = f.seq - 1
	default:
		msg = fmt.Sprintf("the log starts here, but no retention entry accounts for entries #1 to #%s: segments were removed", num(f.seq-1))
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
