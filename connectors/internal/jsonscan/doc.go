// Package jsonscan parses JSON for the connectors' ingest paths (MQTT
// payloads, OMF bodies) into a flat tree that indexes into the input.
//
// encoding/json into `any` costs about twenty allocations for a two-member
// object, which was most of the cost of ingesting an MQTT message, and
// into maps more than the store's write of the same OMF points. A Doc
// keeps its tree in slices that are reused from one parse to the next,
// strings as substrings of the input and numbers as their text until they
// are needed, so a parse allocates only for strings that have escapes or
// invalid UTF-8 (one allocation each). It accepts exactly what
// encoding/json accepts (RFC 8259: one value between optional white space)
// and decodes strings as encoding/json does, invalid UTF-8 and lone
// surrogates becoming U+FFFD; FuzzScan holds it to both.
package jsonscan

import (
	"errors"
	"fmt"
)

// Kind is the JSON type of a value.
type Kind uint8

const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

var kindNames = [...]string{"null", "boolean", "number", "string", "array", "object"}

// String is the type's name for error messages ("got a boolean").
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// Value is a value's index in its Doc: values are numbered in the order
// they start in the input, so the top-level value is Root.
type Value int32

const (
	Root Value = 0
	// Missing is what lookups return when there is no such value.
	Missing Value = -1
)

// Member is a member of an object (Key set) or an element of an array
// (Key empty).
type Member struct {
	Key   string // decoded, like a string value
	Value Value
}

// DefaultMaxDepth is the nesting limit of a Doc with MaxDepth 0. It is
// encoding/json's, so that a Doc accepts what encoding/json accepts.
const DefaultMaxDepth = 10000

// Doc is a parsed JSON text. The zero Doc is ready to use; keep one (in a
// sync.Pool, say) for many parses so that its slices are reused. What its
// methods return is valid until the next Parse or Reset, except strings,
// which are the input's or their own and so stay valid.
type Doc struct {
	// MaxDepth limits the nesting of arrays and objects (parsing recurses
	// once per level); 0 means DefaultMaxDepth.
	MaxDepth int

	src   string
	nodes []node   // indexed by Value
	kids  []Member // the members of each container, contiguous per container
	stack []Member // the members of the containers still being parsed
	strs  []string // decoded strings that are not substrings of src
	buf   []byte   // scratch for decoding escapes
	depth int      // of the container being parsed
	max   int      // MaxDepth or its default
}

// node is one value. Nodes are offsets, not strings, so they are small and
// hold no pointers for the garbage collector to scan.
type node struct {
	kind       Kind
	start, end int32 // the value's bytes in src
	// first and n locate an array's or object's members in kids. For a
	// string, first is the index of its decoded text in strs, or -1 when
	// the text is src[start+1 : end-1] as it is.
	first, n int32
}

// Kind is v's type.
func (d *Doc) Kind(v Value) Kind { return d.nodes[v].kind }

// Text is a string's decoded text or a number's literal (not yet
// converted, so that callers choose between integer and float); it is ""
// for other kinds.
func (d *Doc) Text(v Value) string {
	n := &d.nodes[v]
	switch n.kind {
	case String:
		if n.first >= 0 {
			return d.strs[n.first]
		}
		return d.src[n.start+1 : n.end-1]
	case Number:
		return d.src[n.start:n.end]
	}
	return ""
}

// Bool reports whether v is true.
func (d *Doc) Bool(v Value) bool {
	n := &d.nodes[v]
	return n.kind == Bool && d.src[n.start] == 't'
}

// Raw is v's JSON text as it is in the input.
func (d *Doc) Raw(v Value) string {
	n := &d.nodes[v]
	return d.src[n.start:n.end]
}

// Members returns an object's members or an array's elements, in input
// order (nil for other kinds). The slice is the Doc's: do not modify it.
func (d *Doc) Members(v Value) []Member {
	n := &d.nodes[v]
	if n.kind != Array && n.kind != Object {
		return nil
	}
	return d.kids[n.first : n.first+n.n : n.first+n.n]
}

// Get returns the member of object v named key, or Missing. Of duplicate
// names the last counts, as in encoding/json.
func (d *Doc) Get(v Value, key string) Value {
	if d.nodes[v].kind != Object {
		return Missing
	}
	ms := d.Members(v)
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Key == key {
			return ms[i].Value
		}
	}
	return Missing
}

// Index returns element i of array v, or Missing.
func (d *Doc) Index(v Value, i int) Value {
	n := &d.nodes[v]
	if n.kind != Array || i < 0 || i >= int(n.n) {
		return Missing
	}
	return d.kids[int(n.first)+i].Value
}

// Reset forgets the last input, so that a Doc kept for reuse does not keep
// it (nor strings cut from it) alive. Parse needs no Reset before it.
func (d *Doc) Reset() {
	d.src = ""
	d.nodes = d.nodes[:0]
	// The slices' spare capacity holds strings of earlier inputs too.
	d.kids, d.stack, d.strs = clearAll(d.kids), clearAll(d.stack), clearAll(d.strs)
}

func clearAll[T any](s []T) []T {
	clear(s[:cap(s)])
	return s[:0]
}

// ErrTooDeep is wrapped by the error of an input nested deeper than the
// Doc's MaxDepth.
var ErrTooDeep = errors.New("nested too deeply")

// Error is an input that is not JSON, or nests deeper than allowed.
type Error struct {
	Offset int    // where in the input, in bytes
	Msg    string // what is wrong there
	err    error  // what Unwrap returns
}

func (e *Error) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg) }

// Unwrap is ErrTooDeep for the depth limit, else nil.
func (e *Error) Unwrap() error { return e.err }
