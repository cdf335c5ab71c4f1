package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Entry kinds. Callers may use other kinds; checkpoint and retention are
// written only by the log itself.
const (
	KindAdmin          = "admin"           // an administrative action
	KindPartnerRead    = "partner_read"    // a cross-tenant read that was served
	KindReadDenied     = "read_denied"     // a cross-tenant read that was refused
	KindRecordRejected = "record_rejected" // a signed record from a peer that was rejected
	KindCheckpoint     = "checkpoint"      // written by the log: signs the chain head
	KindRetention      = "retention"       // written by the log: anchors the chain after removal
)

// Outcomes.
const (
	OutcomeAllowed = "allowed"
	OutcomeDenied  = "denied"
	OutcomeOK      = "ok"
	OutcomeError   = "error"
)

// Sides of a partner read.
const (
	SideOwner  = "owner"  // logged by the agent that owns the stream
	SideReader = "reader" // logged by the agent that read it
)

// ReasonUncleanStop is the reason of a checkpoint that Open writes when the
// log it opens does not end with a checkpoint: the entries it signs were
// left unsigned by a run that did not Close (a crash, kill -9, power
// loss), or the end of the log was rewritten while the agent was stopped.
const ReasonUncleanStop = "unclean_stop"

// CrossTenant reports whether e concerns another tenant: a partner read
// or denial, a rejected record, anything with a side or a partner tenant.
// A commit holding one ends with a checkpoint (see Options).
func CrossTenant(e *Entry) bool {
	switch e.Kind {
	case KindPartnerRead, KindReadDenied, KindRecordRejected:
		return true
	}
	return e.Side != "" || e.Tenant != "" || e.Connection != ""
}

// GenesisHash is the prev of entry 1.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds one encoded entry, newline included. Append refuses
// larger entries with ErrTooLarge; readers treat longer lines as corrupt.
const MaxLineBytes = 64 << 10

// Errors callers test with errors.Is.
var (
	ErrInvalid  = errors.New("invalid audit entry")
	ErrTooLarge = errors.New("audit entry too large")
	ErrClosed   = errors.New("audit log is closed")
	ErrCorrupt  = errors.New("audit log is corrupt")
	ErrLocked   = errors.New("audit log is in use by another process")
)

// Entry is one audit record. The JSON tags are the on-disk form (see the
// package doc for the member order and canonical bytes); API handlers can
// marshal Entry as is.
//
// Append fills Seq, Time, Prev and Hash; the caller fills the rest.
type Entry struct {
	Seq        uint64    `json:"seq"`
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Actor      string    `json:"actor,omitempty"`      // user or tenant that acted
	Tenant     string    `json:"tenant,omitempty"`     // partner tenant id
	Community  string    `json:"community,omitempty"`  // community the read went through
	Connection string    `json:"connection,omitempty"` // or direct connection
	Stream     string    `json:"stream,omitempty"`
	Start      time.Time `json:"start,omitzero"` // read window
	End        time.Time `json:"end,omitzero"`
	Points     int64     `json:"points,omitempty"` // points returned
	Outcome    string    `json:"outcome,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Side       string    `json:"side,omitempty"`
	Detail     string    `json:"detail,omitempty"` // free text; never secrets

	// Retention entries: the last removed entry.
	AnchorSeq uint64 `json:"anchor_seq,omitempty"`
	Anchor    string `json:"anchor,omitempty"`

	// Checkpoint entries: the signature of the head (prev).
	Signature []byte `json:"signature,omitempty"`

	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"` // empty only while computing canonical bytes
}

// prepare validates and normalises a caller's entry for Append.
func prepare(e *Entry) error {
	if e.Kind == "" {
		return fmt.Errorf("audit: %w: empty kind", ErrInvalid)
	}
	if e.Kind == KindCheckpoint || e.Kind == KindRetention {
		return fmt.Errorf("audit: %w: kind %q is reserved for the log", ErrInvalid, e.Kind)
	}
	for _, t := range []*time.Time{&e.Start, &e.End} {
		if t.IsZero() {
			continue
		}
		*t = t.UTC().Round(0)
		if y := t.Year(); y < 0 || y > 9999 {
			return fmt.Errorf("audit: %w: time %s out of range", ErrInvalid, t)
		}
	}
	for _, s := range []*string{&e.Kind, &e.Actor, &e.Tenant, &e.Community, &e.Connection,
		&e.Stream, &e.Outcome, &e.Reason, &e.Side, &e.Detail} {
		*s = strings.ToValidUTF8(*s, "\uFFFD")
	}
	e.Seq, e.Time, e.Prev, e.Hash = 0, time.Time{}, "", ""
	e.AnchorSeq, e.Anchor, e.Signature = 0, "", nil
	return nil
}

// encoder turns entries into lines. Not safe for concurrent use; the
// committer owns one.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf)
	e.enc.SetEscapeHTML(false)
	return e
}

// hashSuffix is what precedes the hex hash at the end of every line.
const hashSuffix = `,"hash":"`

// lineTail is the length of `,"hash":"<64 hex>"}`.
const lineTail = len(hashSuffix) + 64 + 2

// encode returns e's line (with '\n') and hash. e.Hash is ignored.
func (c *encoder) encode(e *Entry) (line []byte, hash string, err error) {
	e.Hash = ""
	c.buf.Reset()
	if err := c.enc.Encode(e); err != nil {
		return nil, "", fmt.Errorf("audit: %w: %v", ErrInvalid, err)
	}
	canon := bytes.TrimSuffix(c.buf.Bytes(), []byte("\n"))
	sum := sha256.Sum256(canon)
	hash = hex.EncodeToString(sum[:])
	line = make([]byte, 0, len(canon)-1+lineTail+1)
	line = append(line, canon[:len(canon)-1]...)
	line = append(line, hashSuffix...)
	line = append(line, hash...)
	line = append(line, "\"}\n"...)
	return line, hash, nil
}

// lineHash returns the hex SHA-256 of a line's canonical bytes. The line
// (without '\n') must have passed parseLine.
func lineHash(line []byte) string {
	h := sha256.New()
	h.Write(line[:len(line)-lineTail])
	h.Write([]byte("}"))
	return hex.EncodeToString(h.Sum(nil))
}

// parseLine decodes one line (without its '\n'). It checks the shape the
// hash relies on (hash member last, 64 lowercase hex) and the fields every
// entry has, but not the hash itself: see lineHash.
func parseLine(line []byte) (Entry, error) {
	var e Entry
	if len(line) < lineTail+2 || line[0] != '{' {
		return e, errors.New("not an entry")
	}
	tail := line[len(line)-lineTail:]
	if !bytes.HasPrefix(tail, []byte(hashSuffix)) || !bytes.HasSuffix(tail, []byte(`"}`)) {
		return e, errors.New("hash member missing or not last")
	}
	if !isHex64(tail[len(hashSuffix) : len(hashSuffix)+64]) {
		return e, errors.New("hash is not 64 lowercase hex digits")
	}
	if err := json.Unmarshal(line, &e); err != nil {
		return Entry{}, fmt.Errorf("bad JSON: %v", err)
	}
	switch {
	case e.Hash != string(tail[len(hashSuffix):len(hashSuffix)+64]):
		return Entry{}, errors.New("more than one hash member")
	case e.Seq == 0:
		return Entry{}, errors.New("missing seq")
	case e.Time.IsZero():
		return Entry{}, errors.New("missing time")
	case e.Kind == "":
		return Entry{}, errors.New("missing kind")
	case !isHex64([]byte(e.Prev)):
		return Entry{}, errors.New("prev is not 64 lowercase hex digits")
	}
	e.Time = e.Time.UTC()
	if !e.Start.IsZero() {
		e.Start = e.Start.UTC()
	}
	if !e.End.IsZero() {
		e.End = e.End.UTC()
	}
	return e, nil
}

func isHex64(b []byte) bool {
	if len(b) != 64 {
		return false
	}
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// checkpointMessage is what a checkpoint signs: the head (seq and hash),
// the checkpoint's own time and, if it has one, its reason (v2). See the
// package doc.
func checkpointMessage(headSeq uint64, head string, t time.Time, reason string) []byte {
	b := make([]byte, 0, 192)
	if reason == "" {
		b = append(b, "sluice audit checkpoint v1\nseq "...)
	} else {
		b = append(b, "sluice audit checkpoint v2\nseq "...)
	}
	b = strconv.AppendUint(b, headSeq, 10)
	b = append(b, "\nhead "...)
	b = append(b, head...)
	b = append(b, "\ntime "...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '\n')
	if reason != "" {
		b = append(b, "reason "...)
		b = append(b, reason...)
		b = append(b, '\n')
	}
	return b
}
