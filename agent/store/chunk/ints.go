package chunk

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// The integer codec is shared by int and bool values, ALP-encoded floats,
// string dictionary indexes and non-Good quality. It has three modes; the
// encoder computes the exact size of each and keeps the smallest.
//
//	intDelta: varint(v0), then the deltas v[i]-v[i-1] (int64, wrapping) as
//	          bit-packed blocks (counters, random walks)
//	intRaw:   the values themselves as bit-packed blocks (small codes,
//	          flapping bools)
//	intRLE:   runs: varint(value - previous run's value), uvarint(length-1)
//	          (states, setpoints, quality)
//
// The bit-packed modes cut the numbers into blocks of blockLen, each
// written as frame of reference or Rice code, whichever is smaller (see
// writeBlock). All arithmetic wraps in uint64, so any int64 round-trips.
const (
	intDelta byte = iota
	intRaw
	intRLE
	numIntModes
)

const blockLen = 128

type integer interface{ ~int64 | ~uint32 }

// intPlan is how a column of integers is written: the mode, its size in
// bytes, and for the bit-packed modes the plan of each block.
type intPlan struct {
	mode   byte
	size   int
	blocks []blockPlan
}

// Sets of modes for planInts.
const (
	allModes = 1<<intDelta | 1<<intRaw | 1<<intRLE
	rawOnly  = 1 << intRaw
)

// planInts computes the size of the given modes (a set of 1<<mode, with
// intRaw) for vals (len >= 1) and returns the smallest. The block plans
// live in sc until the next planInts.
func planInts[T integer](vals []T, sc *scratch, modes int) intPlan {
	n := len(vals)
	var blk [blockLen]uint64
	// Delta blocks cover the deltas of vals[1+k*blockLen:].
	sc.delta = grow(sc.delta, (n-1+blockLen-1)/blockLen)
	if modes&(1<<intDelta) == 0 {
		sc.delta = sc.delta[:0]
	}
	deltaBits := 0
	for j := range sc.delta {
		start := 1 + j*blockLen
		end := min(start+blockLen, n)
		for i := start; i < end; i++ {
			blk[i-start] = uint64(int64(vals[i])) - uint64(int64(vals[i-1]))
		}
		sc.delta[j] = planBlock(blk[:end-start], true)
		deltaBits += sc.delta[j].bits
	}
	p := intPlan{mode: intDelta, size: uvarintLen(zigzag(int64(vals[0]))) + (deltaBits+7)/8, blocks: sc.delta}
	if modes&(1<<intDelta) == 0 {
		p.size = math.MaxInt
		deltaBits = math.MaxInt / 4
	}
	// Raw blocks cover vals[k*blockLen:]. Rice is tried on them only when
	// their frame of reference is within twice the deltas' size: a raw
	// column that wide is a trend or walk, which deltas beat.
	sc.raw = grow(sc.raw, (n+blockLen-1)/blockLen)
	for _, rice := range []bool{false, true} {
		rawBits := 0
		for j := range sc.raw {
			start := j * blockLen
			end := min(start+blockLen, n)
			for i, v := range vals[start:end] {
				blk[i] = uint64(int64(v))
			}
			sc.raw[j] = planBlock(blk[:end-start], rice)
			rawBits += sc.raw[j].bits
		}
		if rawSize := (rawBits + 7) / 8; rawSize < p.size {
			p = intPlan{mode: intRaw, size: rawSize, blocks: sc.raw}
		} else if rice || rawBits > 2*deltaBits {
			break
		}
	}
	if modes&(1<<intRLE) == 0 {
		return p
	}
	// Runs, stopping as soon as they are not smaller.
	size := 0
	runStart := 0
	prevRun := uint64(0)
	for i := 1; i <= n && size < p.size; i++ {
		if i < n && vals[i] == vals[runStart] {
			continue
		}
		v := uint64(int64(vals[runStart]))
		size += uvarintLen(zigzag(int64(v-prevRun))) + uvarintLen(uint64(i-runStart-1))
		prevRun = v
		runStart = i
	}
	if size < p.size {
		p = intPlan{mode: intRLE, size: size}
	}
	return p
}

// appendInts appends vals as planned.
func appendInts[T integer](dst []byte, vals []T, p intPlan) []byte {
	n := len(vals)
	switch p.mode {
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
		for j, bp := range p.blocks {
			start := j * blockLen
			end := min(start+blockLen, n)
			for i, v := range vals[start:end] {
				blk[i] = uint64(int64(v))
			}
			writeBlock(&w, blk[:end-start], bp)
		}
		return w.flush()
	default: // intDelta
		dst = binary.AppendVarint(dst, int64(vals[0]))
		w := bitWriter{buf: dst}
		var blk [blockLen]uint64
		for j, bp := range p.blocks {
			start := 1 + j*blockLen
			end := min(start+blockLen, n)
			for i := start; i < end; i++ {
				blk[i-start] = uint64(int64(vals[i])) - uint64(int64(vals[i-1]))
			}
			writeBlock(&w, blk[:end-start], bp)
		}
		return w.flush()
	}
}

// A block of up to blockLen numbers x (int64 bit patterns) is written in
// one of two ways, whichever is smaller:
//
//	0 + 7 bits w + 7 bits l + l bits zigzag(base)   frame of reference:
//	    then x-base in w bits each, base being the minimum
//	1 + 6 bits k + 7 bits l + l bits zigzag(base)   Rice code: then per x
//	    u = zigzag(x-base) as q = u>>k zeros, a one, and the low k bits of
//	    u; when q >= riceEscape, riceEscape zeros, 7 bits length, then u
//
// Frame of reference is best for ramps and uniform noise; Rice for the
// bell-shaped deltas of noisy process values (about 0.6 bits per value
// less on the benchmark data).
const riceEscape = 16

type blockPlan struct {
	rice bool
	k    uint // Rice parameter, or frame of reference width
	base uint64
	bits int
}

// planBlock returns the smaller way to write blk; rice false considers
// frame of reference only.
func planBlock(blk []uint64, rice bool) blockPlan {
	mn, mx := int64(blk[0]), int64(blk[0])
	for _, x := range blk[1:] {
		mn = min(mn, int64(x))
		mx = max(mx, int64(x))
	}
	width := bitLen(uint64(mx) - uint64(mn))
	p := blockPlan{k: width, base: uint64(mn), bits: 15 + int(bitLen(zigzag(mn))) + int(width)*len(blk)}
	if !rice || width <= 2 || width > 48 {
		return p // Rice needs a bit per value plus k; wide blocks are noise
	}
	// Rice around the midpoint or, when smaller, the median of a sample
	// (robust to a glitch), with k from the mean magnitude and its
	// neighbours: ka, ka+1, ka+2. Here u < 2^49, so the sums cannot wrap.
	base := uint64(mn) + (uint64(mx)-uint64(mn))/2
	med := sampleMedian(blk)
	var sum, sumMed uint64
	for _, x := range blk {
		sum += zigzag(int64(x - base))
		sumMed += zigzag(int64(x - med))
	}
	if sumMed < sum {
		base, sum = med, sumMed
	}
	ka := uint(max(0, int(bitLen(sum/uint64(len(blk))))-2))
	var qa, qb, qc uint64 // sums of the quotients; escapes add their cost
	for _, x := range blk {
		u := zigzag(int64(x - base))
		a := u >> ka
		if a < riceEscape {
			qa += a
			qb += a >> 1
			qc += a >> 2
			continue
		}
		esc := riceEscape + 7 + uint64(bitLen(u)) - 1 // minus 1+k, added below
		qa += esc - uint64(ka)
		if b := a >> 1; b < riceEscape {
			qb += b
		} else {
			qb += esc - uint64(ka) - 1
		}
		if c := a >> 2; c < riceEscape {
			qc += c
		} else {
			qc += esc - uint64(ka) - 2
		}
	}
	hdr := 14 + int(bitLen(zigzag(int64(base))))
	for i, q := range [3]uint64{qa, qb, qc} {
		k := ka + uint(i)
		if bits := hdr + (1+int(k))*len(blk) + int(q); bits < p.bits {
			p = blockPlan{rice: true, k: k, base: base, bits: bits}
		}
	}
	return p
}

// sampleMedian returns the median of up to 9 values spread over blk.
func sampleMedian(blk []uint64) uint64 {
	var smp [9]int64
	n := min(len(blk), len(smp))
	for i := range n {
		x := int64(blk[i*len(blk)/n])
		j := i
		for ; j > 0 && smp[j-1] > x; j-- {
			smp[j] = smp[j-1]
		}
		smp[j] = x
	}
	return uint64(smp[n/2])
}

// writeBlock writes one block of int64 bit patterns as planned.
func writeBlock(w *bitWriter, blk []uint64, p blockPlan) {
	base := p.base
	zb := zigzag(int64(base))
	bl := bitLen(zb)
	if p.rice {
		k := p.k
		w.write(1<<13|uint64(k)<<7|uint64(bl), 14)
		w.write(zb, bl)
		for _, x := range blk {
			u := zigzag(int64(x - base))
			q := u >> k
			if q >= riceEscape {
				w.write(uint64(bitLen(u)), riceEscape+7)
				w.write(u, bitLen(u))
				continue
			}
			if q+1+uint64(k) <= 64 {
				w.write(1<<k|u&(1<<k-1), uint(q)+1+k)
				continue
			}
			w.write(1, uint(q)+1)
			w.write(u, k)
		}
		return
	}
	width := p.k
	w.write(uint64(width)<<7|uint64(bl), 15)
	w.write(zb, bl)
	if width == 0 {
		return
	}
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
			blk := out[i : i+cnt]
			var bad bool
			if r.read(1) == 0 {
				hdr := r.read(14)
				width, bl := uint(hdr>>7), uint(hdr&127)
				if width > 64 || bl > 64 {
					if r.over {
						break
					}
					return 0, corrupt("%s section: block at point %d has width %d, base length %d (max 64)", what, i, width, bl)
				}
				base := uint64(unzigzag(r.read64(bl)))
				if mode == intDelta {
					acc, bad = unpackDelta(&r, blk, width, base, acc)
				} else {
					bad = unpackRaw(&r, blk, width, base)
				}
			} else {
				hdr := r.read(13)
				k, bl := uint(hdr>>7), uint(hdr&127)
				if bl > 64 {
					if r.over {
						break
					}
					return 0, corrupt("%s section: block at point %d has base length %d (max 64)", what, i, bl)
				}
				base := uint64(unzigzag(r.read64(bl)))
				acc, bad = unpackRice(&r, blk, k, base, acc, mode == intDelta)
			}
			if bad && !r.over {
				return 0, corrupt("%s section: bad value in block at point %d", what, i)
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
	shift, mask := (64-width)&63, uint64(1)<<width-1 // see unpackRice
	width &= 63
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
		acc += base + a>>shift&mask
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

// unpackRice reads len(blk) Rice-coded values (see writeBlock), adding
// base and, for deltas, accumulating them into acc. It reports values that
// do not fit T and malformed escapes.
func unpackRice[T integer](r *bitReader, blk []T, k uint, base, acc uint64, delta bool) (uint64, bool) {
	bad := false
	// Local copies of the reader state keep the loop in registers.
	a, n, off, src := r.acc, r.n, r.off, r.src
	need := riceEscape + 1 + k // enough for any non-escape code
	// Shift counts masked with 63 compile to plain shifts; mask makes the
	// k == 0 case (a shift by 64) come out as 0.
	sh, mask := (64-k)&63, uint64(1)<<k-1
	k &= 63
	for i := range blk {
		if n < need && off+8 <= len(src) {
			a |= binary.BigEndian.Uint64(src[off:]) >> n
			m := (63 - n) >> 3
			off += int(m)
			n += m << 3
		}
		q := uint(bits.LeadingZeros64(a))
		var u uint64
		if q < riceEscape && q+1+k <= n {
			a <<= (q + 1) & 63
			u = uint64(q)<<k | a>>sh&mask
			a <<= k
			n -= q + 1 + k
		} else {
			r.acc, r.n, r.off = a, n, off
			u = r.readRiceSlow(q, k, &bad)
			a, n, off = r.acc, r.n, r.off
		}
		x := base + uint64(unzigzag(u))
		if delta {
			acc += x
			x = acc
		}
		v := T(x)
		bad = bad || uint64(int64(v)) != x
		blk[i] = v
	}
	r.acc, r.n, r.off = a, n, off
	return acc, bad
}

// readRiceSlow reads one Rice code with q leading zeros the careful way:
// escapes, wide k, and the end of the input.
func (r *bitReader) readRiceSlow(q, k uint, bad *bool) uint64 {
	if r.n < riceEscape+1 {
		r.refill()
		q = uint(bits.LeadingZeros64(r.acc))
	}
	if q < riceEscape && q < r.n {
		r.acc <<= q + 1
		r.n -= q + 1
		return uint64(q)<<k | r.read64(k)
	}
	if r.n < riceEscape {
		r.fail()
	}
	r.acc <<= riceEscape
	r.n -= riceEscape
	l := uint(r.read(7))
	if l > 64 {
		*bad, l = true, 64
	}
	return r.read64(l)
}
