// Package chunk encodes and decodes the store's compressed blocks of points
// of one stream. It is pure (no I/O) so it can be fuzzed and benchmarked on
// its own.
//
// A chunk holds up to a few thousand points of one stream, sorted by time
// with unique timestamps. Timestamps are delta-of-delta encoded after
// dividing out their common scale (sources stamp in ms or µs, so the ns
// deltas share a large factor); floats that are decimals in disguise (a
// process value recorded as 12.34) are turned into integers ALP-style and
// delta-coded; other floats fall back to Gorilla XOR; ints use zig-zag
// varint deltas, strings a dictionary, quality a run-length code because
// nearly every point is Good. A CRC-32C over the chunk catches corruption.
//
// In detail, the encoder picks per chunk whichever variant is smallest:
// timestamps as residuals against a grid, a fixed step or the previous
// delta (delta-of-delta), with a prefix code or run lengths of zeros;
// integers (ints, bools, ALP's integers, dictionary indexes, quality) as
// bit-packed deltas or values (frame of reference or Rice code per block of
// 128) or as runs. The layout is described in encode.go and the section
// files times.go, floats.go, ints.go and strings.go.
package chunk

import (
	"errors"

	"github.com/sluice-edge/sluice/connectors/point"
)

// Block is a chunk decoded into columns. Exactly one value column is used,
// chosen by Kind: Floats for KindFloat, Ints for KindInt and KindBool (0/1),
// Strings for KindString. All used columns have the same length as Times.
// Decode reuses the slices' capacity, so a reader that decodes chunk after
// chunk into one Block does not allocate per chunk.
type Block struct {
	Kind    point.Kind
	Times   []int64
	Floats  []float64
	Ints    []int64
	Strings []string
	Quality []uint32
}

// Len is the number of points in the block.
func (b *Block) Len() int { return len(b.Times) }

// Reset empties the block, keeping capacity, and sets its kind.
func (b *Block) Reset(k point.Kind) {
	b.Kind = k
	b.Times = b.Times[:0]
	b.Floats = b.Floats[:0]
	b.Ints = b.Ints[:0]
	b.Strings = b.Strings[:0]
	b.Quality = b.Quality[:0]
}

// Header is the part of a chunk a reader needs to decide whether to decode
// it at all.
type Header struct {
	Kind  point.Kind
	Count int
	First int64 // first (smallest) timestamp
	Last  int64 // last (largest) timestamp
}

// ErrCorrupt is wrapped by every decoding error.
var ErrCorrupt = errors.New("corrupt chunk")

// The functions below are implemented in encode.go and decode.go:
//
//	func Append(dst []byte, b *Block) ([]byte, error)
//	    appends the encoding of b to dst. b.Times must be strictly
//	    increasing; b must hold 1..MaxPoints points.
//	func ReadHeader(src []byte) (Header, error)
//	    reads the header without decoding points (and without the CRC check).
//	func Decode(src []byte, b *Block) error
//	    decodes src into b (reusing its capacity); verifies the CRC first;
//	    any inconsistency returns an error wrapping ErrCorrupt, never panics.

// MaxPoints bounds the points of one chunk, so a corrupt count cannot make
// a reader allocate without bound.
const MaxPoints = 1 << 16
