package chunk

import (
	"encoding/binary"
	"math/bits"
)

// bitWriter appends bits MSB-first to a byte slice. Pending bits are kept
// right-aligned in acc (bits above n are garbage and get shifted out).
type bitWriter struct {
	buf []byte
	acc uint64
	n   uint // pending bits in acc, 0..63
}

// write appends the low k bits of v, k in 0..64.
func (w *bitWriter) write(v uint64, k uint) {
	v &= ^uint64(0) >> (64 - k) // k == 0 gives 0
	free := 64 - w.n
	if k < free {
		w.acc = w.acc<<k | v
		w.n += k
		return
	}
	rest := k - free
	w.acc = w.acc<<free | v>>rest // free == 64 only when n == 0 and k == 64
	w.buf = binary.BigEndian.AppendUint64(w.buf, w.acc)
	w.acc = v
	w.n = rest
}

// flush writes the pending bits, zero-padded to a whole byte, and returns
// the buffer.
func (w *bitWriter) flush() []byte {
	if w.n > 0 {
		v := w.acc << (64 - w.n)
		for i := uint(0); i < w.n; i += 8 {
			w.buf = append(w.buf, byte(v>>56))
			v <<= 8
		}
	}
	w.acc, w.n = 0, 0
	return w.buf
}

// bitReader reads bits MSB-first. acc holds the next n bits left-aligned;
// bits below them may hold a copy of the following input (refill loads 8
// bytes but only counts whole bytes), which is harmless because the next
// refill ORs the same bits into the same place.
//
// Reading past the end never panics: it yields zero bits and sets over,
// which the section decoders check once per section (their loops are
// bounded by the point count, so garbage cannot make them run long).
type bitReader struct {
	src  []byte
	off  int    // next byte of src to load
	acc  uint64 // next bits, left-aligned
	n    uint   // valid bits in acc
	over bool   // a read went past the end
	at   int    // bit position of the first overrun
}

func newBitReader(src []byte) bitReader {
	r := bitReader{src: src}
	r.refill()
	return r
}

// refill tops acc up to at least 56 valid bits, or to what is left.
func (r *bitReader) refill() {
	if r.off+8 <= len(r.src) {
		r.acc |= binary.BigEndian.Uint64(r.src[r.off:]) >> r.n
		k := (63 - r.n) >> 3
		r.off += int(k)
		r.n += k << 3
		return
	}
	r.refillSlow()
}

func (r *bitReader) refillSlow() {
	for r.n <= 56 && r.off < len(r.src) {
		r.acc |= uint64(r.src[r.off]) << (56 - r.n)
		r.off++
		r.n += 8
	}
}

// fail records an overrun and pretends the input continues with zeros.
func (r *bitReader) fail() {
	if !r.over {
		r.over = true
		r.at = r.pos()
	}
	r.acc &= ^(^uint64(0) >> r.n) // keep the valid bits, zero the rest
	r.n = 64
	r.off = len(r.src)
}

// pos is the number of bits consumed so far.
func (r *bitReader) pos() int { return r.off*8 - int(r.n) }

// read returns the next k bits, k in 0..56.
func (r *bitReader) read(k uint) uint64 {
	if r.n < k {
		r.refill()
		if r.n < k {
			r.fail()
		}
	}
	v := r.acc >> (64 - k) // k == 0 gives 0
	r.acc <<= k
	r.n -= k
	return v
}

// read64 returns the next k bits, k in 0..64.
func (r *bitReader) read64(k uint) uint64 {
	if k <= 56 {
		return r.read(k)
	}
	hi := r.read(k - 32)
	return hi<<32 | r.read(32)
}

// bytesUsed is the number of input bytes the bits read so far occupy.
func (r *bitReader) bytesUsed() int { return (r.pos() + 7) >> 3 }

// zigzag maps signed to unsigned so that small magnitudes are small.
func zigzag(x int64) uint64 { return uint64(x<<1) ^ uint64(x>>63) }

func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// bitLen is the number of bits needed to hold u.
func bitLen(u uint64) uint { return uint(bits.Len64(u)) }

// uvarintLen is the encoded length of binary.AppendUvarint(nil, u).
func uvarintLen(u uint64) int { return (bits.Len64(u|1) + 6) / 7 }
