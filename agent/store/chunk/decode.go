package chunk

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/sluice-edge/sluice/connectors/point"
)

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("chunk: "+format+": %w", append(args, ErrCorrupt)...)
}

// header is the full header, including what Header leaves out.
type header struct {
	Header
	flags byte
	size  int // bytes
}

func readHeader(src []byte) (header, error) {
	var h header
	if len(src) < 2 {
		return h, corrupt("header truncated")
	}
	if src[0] != version {
		return h, corrupt("unknown version %d", src[0])
	}
	h.Kind = point.Kind(src[1])
	if !h.Kind.Valid() {
		return h, corrupt("invalid kind %d", src[1])
	}
	p := 2
	n, k := binary.Uvarint(src[p:])
	if k <= 0 {
		return h, corrupt("header: bad count")
	}
	p += k
	if n == 0 || n > MaxPoints {
		return h, corrupt("header: count %d not in 1..%d", n, MaxPoints)
	}
	h.Count = int(n)
	first, k := binary.Varint(src[p:])
	if k <= 0 {
		return h, corrupt("header: bad first timestamp")
	}
	p += k
	span, k := binary.Uvarint(src[p:])
	if k <= 0 {
		return h, corrupt("header: bad time span")
	}
	p += k
	if (n == 1) != (span == 0) || span < n-1 {
		return h, corrupt("header: time span %d for %d points", span, n)
	}
	h.First = first
	h.Last = int64(uint64(first) + span)
	if h.Last < h.First {
		return h, corrupt("header: last timestamp overflows")
	}
	if p >= len(src) {
		return h, corrupt("header: missing flags")
	}
	h.flags = src[p]
	h.size = p + 1
	return h, nil
}

// ReadHeader reads the header without decoding points (and without the
// CRC check).
func ReadHeader(src []byte) (Header, error) {
	h, err := readHeader(src)
	return h.Header, err
}

// section splits off one length-prefixed section.
func section(src []byte, p int, what string) (body []byte, next int, err error) {
	l, k := binary.Uvarint(src[p:])
	if k <= 0 {
		return nil, 0, corrupt("%s section: bad length at byte %d", what, p)
	}
	p += k
	if l > uint64(len(src)-p) {
		return nil, 0, corrupt("%s section: length %d exceeds the %d bytes left", what, l, len(src)-p)
	}
	return src[p : p+int(l)], p + int(l), nil
}

// Decode decodes src into b (reusing its capacity); verifies the CRC first;
// any inconsistency returns an error wrapping ErrCorrupt, never panics.
func Decode(src []byte, b *Block) error {
	err := decode(src, b)
	if err != nil {
		b.Reset(b.Kind)
	}
	return err
}

func decode(src []byte, b *Block) error {
	if len(src) < 4 {
		return corrupt("%d bytes is too short", len(src))
	}
	body := src[:len(src)-4]
	if want, got := binary.LittleEndian.Uint32(src[len(body):]), crc32.Checksum(body, castagnoli); want != got {
		return corrupt("CRC mismatch: stored %08x, computed %08x", want, got)
	}
	h, err := readHeader(body)
	if err != nil {
		return err
	}
	if h.flags>>6 != 0 {
		return corrupt("reserved flag bits set: %#02x", h.flags)
	}
	// Every maxRun timestamps after the first take at least one bit, which
	// bounds what a small chunk can make us allocate.
	if n := uint64(h.Count); n-1 > 8*maxRun*uint64(len(body)) {
		return corrupt("header: count %d in %d bytes", n, len(src))
	}
	order := int(h.flags & 3)
	vmode := h.flags >> 2 & 3
	qmode := h.flags >> 4 & 3
	n := h.Count
	b.Reset(h.Kind)
	p := h.size

	b.Times = grow(b.Times, n)
	if n > 1 {
		if order >= numOrders {
			return corrupt("unknown timestamp order %d", order)
		}
		sec, next, err := section(body, p, "timestamp")
		if err != nil {
			return err
		}
		p = next
		if err := decodeTimes(sec, order, h.First, b.Times); err != nil {
			return err
		}
		if b.Times[n-1] != h.Last {
			return corrupt("last timestamp %d, header says %d", b.Times[n-1], h.Last)
		}
	} else {
		if order != 0 {
			return corrupt("timestamp order %d for a single point", order)
		}
		b.Times[0] = h.First
	}

	sec, next, err := section(body, p, "value")
	if err != nil {
		return err
	}
	p = next
	switch h.Kind {
	case point.KindFloat:
		b.Floats = grow(b.Floats, n)
		b.Ints = grow(b.Ints, n) // scratch
		err = decodeFloats(sec, vmode, b.Floats, b.Ints)
		b.Ints = b.Ints[:0]
	case point.KindInt, point.KindBool:
		b.Ints = grow(b.Ints, n)
		var used int
		used, err = decodeInts(sec, vmode, b.Ints, "value")
		if err == nil && used != len(sec) {
			err = corrupt("value section has %d bytes, used %d", len(sec), used)
		}
		if err == nil && h.Kind == point.KindBool {
			for i, v := range b.Ints {
				if v != 0 && v != 1 {
					err = corrupt("bool value %d at point %d", v, i)
					break
				}
			}
		}
	case point.KindString:
		b.Strings = grow(b.Strings, n)
		b.Quality = grow(b.Quality, n) // scratch for the indexes
		err = decodeStrings(sec, vmode, b.Strings, b.Quality)
	}
	if err != nil {
		return err
	}

	b.Quality = grow(b.Quality, n)
	if qmode == 0 {
		clear(b.Quality)
	} else {
		sec, next, err := section(body, p, "quality")
		if err != nil {
			return err
		}
		p = next
		used, err := decodeInts(sec, qmode-1, b.Quality, "quality")
		if err != nil {
			return err
		}
		if used != len(sec) {
			return corrupt("quality section has %d bytes, used %d", len(sec), used)
		}
	}
	if p != len(body) {
		return corrupt("%d trailing bytes", len(body)-p)
	}
	return nil
}
