package chunk

import (
	"encoding/binary"
)

// The integer codec is shared by int and bool values, ALP-encoded floats,
// string dictionary indexes and non-Good quality. It has three modes; the
// encoder computes the exact size of each and keeps the smallest.
//
//	intDelta: varint(v0), then the deltas v[i]-v[i-1] (int64, wrapping) as
//	          frame-of-reference bit-packed blocks (counters, random walks)
//	intRaw:   the values themselves as bit-packed blocks (small codes,
//	          flapping bools)
//	intRLE:   runs: varint(value - previous run's value), uvarint(length-1)
//	          (states, setpoints, quality)
//
// A bit-packed block holds up to blockLen numbers x as: 7 bits width w,
// 7 bits length of zigzag(base), zigzag(base), then x-base in w bits each,
// where base is the block's minimum. All arithmetic wraps in uint64, so any
// int64 round-trips.
const (
	intDelta byte = iota
	intRaw
	intRLE
	numIntModes
)

const blockLen = 128

type integer interface{ ~int64 | ~uint32 }

// forBlockBits is the size of one bit-packed block.
func forBlockBits(mn, mx int64, cnt int) int {
	return 14 + int(bitLen(zigzag(mn))) + int(bitLen(uint64(mx)-uint64(mn)))*cnt
}

// planInts returns the smallest mode for vals (len >= 1) and its size in
// bytes.
func planInts[T integer](vals []T) (mode byte, size int) {
	n := len(vals)
	// Raw blocks cover vals[k*blockLen:], delta blocks cover the deltas of
	// vals[1+k*blockLen:]; one pass computes both, plus the runs.
	rawBits, deltaBits := 0, 0
	rle := 0
	runs := 0
	runStart := 0
	prevRun := int64(0)
	for start := 0; start < n; start += blockLen {
		end := min(start+blockLen, n)
		mn, mx := int64(vals[start]), int64(vals[start])
		for _, v := range vals[start+1 : end] {
			x := int64(v)
			mn = min(mn, x)
			mx = max(mx, x)
		}
		rawBits += forBlockBits(mn, mx, end-start)
	}
	for start := 1; start < n; start += blockLen {
		end := min(start+blockLen, n)
		d := int64(uint64(vals[start]) - uint64(vals[start-1]))
		mn, mx := d, d
		for i := start + 1; i < end; i++ {
			d := int64(uint64(vals[i]) - uint64(vals[i-1]))
			mn = min(mn, d)
			mx = max(mx, d)
		}
		deltaBits += forBlockBits(mn, mx, end-start)
	}
	for i := 1; i <= n; i++ {
		if i < n && vals[i] == vals[runStart] {
			continue
		}
		v := int64(vals[runStart])
		rle += uvarintLen(zigzag(int64(uint64(v)-uint64(prevRun)))) + uvarintLen(uint64(i-runStart-1))
		prevRun = v
		runStart = i
		runs++
	}
	deltaSize := uvarintLen(zigzag(int64(vals[0]))) + (deltaBits+7)/8
	rawSize := (rawBits + 7) / 8
	mode, size = intDelta, deltaSize
	if rawSize < size {
		mode, size = intRaw, rawSize
	}
	if rle < size {
		mode, size = intRLE, rle
	}
	return mode, size
}

// appendInts appends vals in the given mode.
func appendInts[T integer](dst []byte, vals []T, mode byte) []byte {
	n := len(vals)
	switch mode {
	case intRLE:
		prev := uint64(0)
		runStart := 0
		for i := 1; i <= n; i++ {
			if i < n && vals[i] == vals[runStart] {
				continue
			}
			v := uint64(int64(vals[runStart]))
			dst = binary.AppendVarint(dst, int64(v-prev))
			dst = binary.AppendUvarint(dst, uint64(i-runStart-1))
			prev = v
			runStart = i
		}
		return dst
	case intRaw:
		w := bitWriter{buf: dst}
		var blk [blockLen]uint64
		for start := 0; start < n; start += blockLen {
			end := min(start+blockLen, n)
			for i, v := range vals[start:end] {
				blk[i] = uint64(int64(v))
			}
			writeBlock(&w, blk[:end-start])
		}
		return w.flush()
	default: // intDelta
		dst = binary.AppendVarint(dst, int64(vals[0]))
		w := bitWriter{buf: dst}
		var blk [blockLen]uint64
		for start := 1; start < n; start += blockLen {
			end := min(start+blockLen, n)
			for i := start; i < end; i++ {
				blk[i-start] = uint64(int64(vals[i])) - uint64(int64(vals[i-1]))
			}
			writeBlock(&w, blk[:end-start])
		}
		return w.flush()
	}
}

// writeBlock writes one frame-of-reference block of int64 bit patterns.
func writeBlock(w *bitWriter, blk []uint64) {
	mn, mx := int64(blk[0]), int64(blk[0])
	for _, x := range blk[1:] {
		mn = min(mn, int64(x))
		mx = max(mx, int64(x))
	}
	width := bitLen(uint64(mx) - uint64(mn))
	zb := zigzag(mn)
	bl := bitLen(zb)
	w.write(uint64(width)<<7|uint64(bl), 14)
	w.write(zb, bl)
	if width == 0 {
		return
	}
	base := uint64(mn)
	if width <= 32 {
		// Two values per write: fewer calls for the common narrow widths.
		i := 0
		for ; i+1 < len(blk); i += 2 {
			w.write((blk[i]-base)<<width|(blk[i+1]-base), 2*width)
		}
		if i < len(blk) {
			w.write(blk[i]-base, width)
		}
		return
	}
	for _, x := range blk {
		w.write(x-base, width)
	}
}

// decodeInts decodes len(out) values of the given mode from src and
// returns the number of bytes used. For uint32 outputs, values that do not
// fit are corrupt. what names the section in errors.
func decodeInts[T integer](src []byte, mode byte, out []T, what string) (int, error) {
	n := len(out)
	switch mode {
	case intRLE:
		p := 0
		prev := uint64(0)
		for i := 0; i < n; {
			d, k := binary.Varint(src[p:])
			if k <= 0 {
				return 0, corrupt("%s section: bad run value at byte %d", what, p)
			}
			p += k
			l, k := binary.Uvarint(src[p:])
			if k <= 0 {
				return 0, corrupt("%s section: bad run length at byte %d", what, p)
			}
			p += k
			if l >= uint64(n-i) {
				return 0, corrupt("%s section: run of %d at point %d overflows count %d", what, l+1, i, n)
			}
			prev += uint64(d)
			v := T(prev)
			if uint64(int64(v)) != prev {
				return 0, corrupt("%s section: value %d out of range at point %d", what, int64(prev), i)
			}
			run := out[i : i+int(l)+1]
			for j := range run {
				run[j] = v
			}
			i += len(run)
		}
		return p, nil
	case intRaw, intDelta:
		p := 0
		acc := uint64(0)
		start := 0
		if mode == intDelta {
			v0, k := binary.Varint(src)
			if k <= 0 {
				return 0, corrupt("%s section: bad first value", what)
			}
			p = k
			acc = uint64(v0)
			v := T(acc)
			if uint64(int64(v)) != acc {
				return 0, corrupt("%s section: value %d out of range at point 0", what, v0)
			}
			out[0] = v
			start = 1
		}
		r := newBitReader(src[p:])
		for i := start; i < n; {
			cnt := min(blockLen, n-i)
			hdr := r.read(14)
			width, bl := uint(hdr>>7), uint(hdr&127)
			if width > 64 || bl > 64 {
				if r.over {
					break
				}
				return 0, corrupt("%s section: block at point %d has width %d, base length %d (max 64)", what, i, width, bl)
			}
			base := uint64(unzigzag(r.read64(bl)))
			blk := out[i : i+cnt]
			var bad bool
			if mode == intDelta {
				acc, bad = unpackDelta(&r, blk, width, base, acc)
			} else {
				bad = unpackRaw(&r, blk, width, base)
			}
			if bad && !r.over {
				return 0, corrupt("%s section: value out of range in block at point %d", what, i)
			}
			i += cnt
		}
		if r.over {
			return 0, corrupt("%s section truncated at bit %d", what, r.at)
		}
		return p + r.bytesUsed(), nil
	}
	return 0, corrupt("%s section: unknown integer mode %d", what, mode)
}

// unpackDelta reads len(blk) deltas of width bits, adds base to each and
// accumulates them into acc, storing the running values. It reports
// whether a value did not fit T.
func unpackDelta[T integer](r *bitReader, blk []T, width uint, base, acc uint64) (uint64, bool) {
	bad := false
	if width > 56 {
		for i := range blk {
			acc += base + r.read64(width)
			v := T(acc)
			bad = bad || uint64(int64(v)) != acc
			blk[i] = v
		}
		return acc, bad
	}
	// Local copies of the reader state keep the loop in registers.
	a, n, off, src := r.acc, r.n, r.off, r.src
	shift := 64 - width
	for i := range blk {
		if n < width {
			if off+8 <= len(src) {
				a |= binary.BigEndian.Uint64(src[off:]) >> n
				k := (63 - n) >> 3
				off += int(k)
				n += k << 3
			} else {
				r.acc, r.n, r.off = a, n, off
				r.refillSlow()
				if r.n < width {
					r.fail()
				}
				a, n, off = r.acc, r.n, r.off
			}
		}
		acc += base + a>>shift
		a <<= width
		n -= width
		v := T(acc)
		bad = bad || uint64(int64(v)) != acc
		blk[i] = v
	}
	r.acc, r.n, r.off = a, n, off
	return acc, bad
}

// unpackRaw reads len(blk) values of width bits plus base.
func unpackRaw[T integer](r *bitReader, blk []T, width uint, base uint64) bool {
	bad := false
	for i := range blk {
		x := base + r.read64(width)
		v := T(x)
		bad = bad || uint64(int64(v)) != x
		blk[i] = v
	}
	return bad
}
