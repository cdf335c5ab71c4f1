package chunk

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/sluice-edge/sluice/connectors/point"
)

// FuzzDecode feeds arbitrary bytes to Decode: it must not panic, and what
// it accepts must re-encode to the same block. Random bytes almost never
// carry a valid CRC, so each input is also tried with its CRC fixed, which
// lets the fuzzer reach the section decoders.
func FuzzDecode(f *testing.F) {
	for _, c := range corpus(f) {
		f.Add(c)
		f.Add(c[:len(c)/2])
		mut := bytes.Clone(c)
		mut[len(mut)/2] ^= 0x10
		f.Add(withCRC(mut))
	}
	f.Add([]byte{})
	f.Add([]byte{version, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecodeReencode(t, data)
		if len(data) >= 5 {
			checkDecodeReencode(t, withCRC(bytes.Clone(data)))
		}
		if _, err := ReadHeader(data); err == nil && len(data) < 6 {
			t.Fatalf("ReadHeader accepted %d bytes", len(data))
		}
	})
}

// FuzzRoundTrip builds a block from the fuzz bytes, encodes and decodes
// it and compares bit for bit.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Add([]byte{0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0x10, 5, 0x12, 6, 0x10, 7, 0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf8, 0x7f})
	f.Add([]byte{1, 7, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x11, 0x01, 0x21, 0x81, 0, 0, 0, 0x80, 1})
	f.Add([]byte{3, 3, 9, 9, 9, 9, 9, 9, 9, 9, 0x00, 'a', 0x10, 'b', 0x20, 'c', 0x30, 0x40, 0x50, 0x60, 0x70})
	f.Add(bytes.Repeat([]byte{0x14, 0x33, 0x90, 0x01}, 300))
	f.Add(bytes.Repeat([]byte{0xa5, 0x5a, 0xff, 0x00, 0x7f}, 200))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := blockFromBytes(data)
		enc, err := Append(nil, b)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		var got Block
		if err := Decode(enc, &got); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if d := diffBlocks(b, &got); d != "" {
			t.Fatalf("round trip: %s", d)
		}
		h, err := ReadHeader(enc)
		if err != nil || h.Count != b.Len() || h.First != b.Times[0] || h.Last != b.Times[b.Len()-1] {
			t.Fatalf("ReadHeader = %+v, %v", h, err)
		}
	})
}

// byteSource hands out fuzz bytes, zeros once they run out.
type byteSource struct{ b []byte }

func (s *byteSource) more() bool { return len(s.b) > 0 }

func (s *byteSource) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *byteSource) u64() uint64 {
	var buf [8]byte
	n := copy(buf[:], s.b)
	s.b = s.b[n:]
	return binary.LittleEndian.Uint64(buf[:])
}

// blockFromBytes builds a valid block: a kind, a start time and step
// scale, then per point an op byte choosing the time step and value shape
// and whether the point has a quality, plus operand bytes.
func blockFromBytes(data []byte) *Block {
	s := &byteSource{data}
	b := &Block{Kind: point.Kind(s.byte()%4 + 1)}
	tmode := s.byte()
	scale := []int64{1, 1e3, 1e6, 1e9, 100e6, 7}[int(tmode)%6]
	t := int64(s.u64())
	if tmode&0x80 != 0 {
		t = math.MaxInt64 - int64(tmode&0x3f)*scale*3
	}
	hasQ := tmode&0x40 != 0
	prevF, prevI := 0.0, int64(0)
	for {
		op := s.byte()
		b.Times = append(b.Times, t)
		switch b.Kind {
		case point.KindFloat:
			var v float64
			switch op >> 4 & 7 {
			case 0:
				v = prevF
			case 1: // a decimal with 0..7 digits
				v = float64(int64(s.u64()>>(s.byte()%64))) / pow10[op&7]
			case 2: // a random-walk step of a 2-decimal value
				v = math.Round((prevF+float64(int8(s.byte()))/100)*100) / 100
			case 3:
				v = math.Float64frombits(s.u64())
			case 4:
				v = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 0, math.MaxFloat64,
					math.SmallestNonzeroFloat64, math.Float64frombits(0x7ff0000000000001)}[op&7]
			default:
				v = float64(int8(s.byte())) / 10
			}
			b.Floats = append(b.Floats, v)
			prevF = v
		case point.KindInt:
			var v int64
			switch op >> 4 & 3 {
			case 0:
				v = prevI
			case 1:
				v = prevI + int64(int8(s.byte()))
			case 2:
				v = int64(s.u64())
			default:
				v = []int64{math.MinInt64, math.MaxInt64, 0, -1}[op&3]
			}
			b.Ints = append(b.Ints, v)
			prevI = v
		case point.KindBool:
			b.Ints = append(b.Ints, int64(op>>4&1))
		case point.KindString:
			var v string
			if op&0x10 != 0 {
				l := int(s.byte() % 16)
				v = string(s.b[:min(l, len(s.b))])
				s.b = s.b[min(l, len(s.b)):]
			} else {
				v = []string{"", "RUN", "Störung", "🚀"}[op>>5&3]
			}
			b.Strings = append(b.Strings, v)
		}
		if hasQ {
			q := uint32(0)
			if op&0x80 != 0 {
				q = uint32(s.u64())
			}
			b.Quality = append(b.Quality, q)
		}
		if !s.more() || b.Len() == MaxPoints {
			break
		}
		// Time step: mostly the base period with some jitter, sometimes
		// any positive step.
		var step uint64
		if op&1 == 0 {
			step = uint64(scale) * (100 + uint64(op>>1&3))
		} else {
			step = 1 + s.u64()>>(s.byte()%64)
		}
		next := uint64(t) + step
		if step == 0 || int64(next) <= t {
			break // would overflow
		}
		t = int64(next)
	}
	return b
}
