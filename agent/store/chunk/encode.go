package chunk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/sluice-edge/sluice/connectors/point"
)

// Chunk layout (all varints are encoding/binary's):
//
//	byte      version (1)
//	byte      kind
//	uvarint   count, 1..MaxPoints
//	varint    first timestamp
//	uvarint   last - first (wrapping uint64)
//	byte      flags: bits 0-1 timestamp order (times.go), bits 2-3 value
//	          mode (floats.go / ints.go), bits 4-5 quality mode (0: all
//	          Good, no section; m+1: integer codec mode m), bits 6-7 zero
//	section   timestamps, only when count > 1 (times.go)
//	section   values: floats.go, ints.go, or strings.go
//	section   quality, only when not all Good (ints.go)
//	4 bytes   CRC-32C (Castagnoli) of everything before, little endian
//
// Each section is uvarint(body length) followed by the body, so a reader
// can find a column without decoding the ones before it.
const version = 1

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// scratch holds the encoder's temporary buffers between calls.
type scratch struct {
	ints []int64
	exc  []int32
	excv []float64
	idx  []uint32
	dict map[string]uint32
	// block plans of planInts
	raw, delta []blockPlan
	// timestamp deltas and residuals
	q, z, bestZ []uint64
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func grow[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}

// Append appends the encoding of b to dst. b.Times must be strictly
// increasing; b must hold 1..MaxPoints points. Quality may be empty,
// meaning every point is Good; bools must be 0 or 1.
func Append(dst []byte, b *Block) ([]byte, error) {
	if err := validate(b); err != nil {
		return dst, err
	}
	n := len(b.Times)
	start := len(dst)
	dst = append(dst, version, byte(b.Kind))
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendVarint(dst, b.Times[0])
	dst = binary.AppendUvarint(dst, uint64(b.Times[n-1])-uint64(b.Times[0]))
	flagsAt := len(dst)
	dst = append(dst, 0)
	var flags byte

	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	if n > 1 {
		s := len(dst)
		var order int
		dst, order = appendTimes(dst, b.Times, sc)
		dst = endSection(dst, s)
		flags |= byte(order)
	}

	s := len(dst)
	var mode byte
	switch b.Kind {
	case point.KindFloat:
		dst, mode = appendFloats(dst, b.Floats, sc)
	case point.KindInt, point.KindBool:
		p := planInts(b.Ints, sc, allModes)
		dst = appendInts(dst, b.Ints, p)
		mode = p.mode
	case point.KindString:
		dst, mode = appendStrings(dst, b.Strings, sc)
	}
	dst = endSection(dst, s)
	flags |= mode << 2

	if !allZero(b.Quality) {
		s := len(dst)
		p := planInts(b.Quality, sc, allModes)
		dst = appendInts(dst, b.Quality, p)
		dst = endSection(dst, s)
		flags |= (p.mode + 1) << 4
	}
	dst[flagsAt] = flags
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli)), nil
}

func validate(b *Block) error {
	n := len(b.Times)
	if n == 0 || n > MaxPoints {
		return fmt.Errorf("chunk: %d points, want 1..%d", n, MaxPoints)
	}
	if !b.Kind.Valid() {
		return fmt.Errorf("chunk: invalid kind %d", b.Kind)
	}
	var m int
	switch b.Kind {
	case point.KindFloat:
		m = len(b.Floats)
	case point.KindInt, point.KindBool:
		m = len(b.Ints)
	case point.KindString:
		m = len(b.Strings)
	}
	if m != n {
		return fmt.Errorf("chunk: %d timestamps but %d %s values", n, m, b.Kind)
	}
	if len(b.Quality) != n && len(b.Quality) != 0 {
		return fmt.Errorf("chunk: %d timestamps but %d qualities", n, len(b.Quality))
	}
	prev := b.Times[0]
	for i, t := range b.Times[1:] {
		if t <= prev {
			return fmt.Errorf("chunk: timestamp %d at index %d is not after %d", t, i+1, prev)
		}
		prev = t
	}
	if b.Kind == point.KindBool {
		for i, v := range b.Ints {
			if v != 0 && v != 1 {
				return fmt.Errorf("chunk: bool value %d at index %d is not 0 or 1", v, i)
			}
		}
	}
	return nil
}

func allZero(q []uint32) bool {
	for _, v := range q {
		if v != 0 {
			return false
		}
	}
	return true
}

// endSection prefixes the body dst[start:] with its uvarint length.
func endSection(dst []byte, start int) []byte {
	body := len(dst) - start
	k := uvarintLen(uint64(body))
	var pad [binary.MaxVarintLen64]byte
	dst = append(dst, pad[:k]...)
	copy(dst[start+k:], dst[start:start+body])
	binary.PutUvarint(dst[start:], uint64(body))
	return dst
}
