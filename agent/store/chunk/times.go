package chunk

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Timestamp section (only when count > 1):
//
//	uvarint(g)  scale: GCD of all deltas (ns), so s[i] = (t[i]-t[0])/g
//	uvarint(D)  base step in units of g
//	varint(c)   order 0 only: grid offset
//	byte        coding of the residuals: codePlain, codeRuns, or
//	            codeInts+m for the integer codec in mode m (not runs)
//	...         the count-1 residuals r[1..count-1] in that coding
//
// The residuals depend on the order (bits 0-1 of the header flags):
//
//	order 0 (grid):  r[i] = s[i] - i*D - c        jitter around a fixed grid
//	order 1 (delta): r[i] = (s[i]-s[i-1]) - D      gaps, drifting phase
//	order 2 (dod):   r[i] = delta[i] - delta[i-1]  with delta[0] = D (Gorilla)
//
// All arithmetic is modulo 2^64, so any strictly increasing int64 series
// round-trips, including spans wider than MaxInt64.
//
// codePlain: 4 bytes of widths w1..w4, then each residual zigzagged to v
// in a prefix code whose widths are chosen per chunk for the smallest
// size, zero padded to a byte:
//
//	0               0
//	10   + w1 bits  v-1
//	110  + w2 bits  v-1
//	1110 + w3 bits  v-1
//	1111 + w4 bits  v-1  (w4 covers the largest v)
//
// codeRuns: 4 bytes of widths for counts, 4 for residuals, then pairs: the
// number of zero residuals before the next nonzero one (v = count < 64),
// then that residual (v = zigzag-1). A count of 64 stands for 64 zeros
// with no residual after them, and trailing zeros end with a count alone.
// Runs win when most residuals are zero, as for jittered stamps on a
// grid, where a plain code cannot go below 1 bit per point.
//
// codeInts+m: the residuals with the integer codec (ints.go), which wins
// for noisy stamps (µs or 100 ns clocks with scheduling jitter), where the
// prefix code's 2-4 bits of prefix are too much.
//
// Neither coding describes more than 64 points per bit (run counts are
// capped, integer blocks take at least 14 bits for 128 points), so a small
// corrupt chunk cannot claim many points and make Decode allocate much.
//
// The encoder computes the exact size of the plain and run codings for all
// three orders and keeps the smallest; for noisy residuals it also tries
// the integer codec on the best order.

const maxRun = 64

// Codings of the residuals.
const (
	codePlain = 0
	codeRuns  = 1
	codeInts  = 2 // + integer codec mode
)

const (
	timeGrid  = 0
	timeDelta = 1
	timeDoD   = 2
	numOrders = 3
)

var codePrefix = [4]struct {
	bits uint64
	len  uint
}{{0b10, 2}, {0b110, 3}, {0b1110, 4}, {0b1111, 4}}

// divider divides exactly by a fixed g: g = odd<<k, and multiplication by
// the inverse of odd modulo 2^64 divides any multiple of odd exactly.
type divider struct {
	k   uint
	inv uint64
	lim uint64 // x>>k is a multiple of odd iff (x>>k)*inv <= lim
}

func newDivider(g uint64) divider {
	k := uint(bits.TrailingZeros64(g))
	odd := g >> k
	inv := odd // correct to 3 bits; each Newton step doubles that
	for range 5 {
		inv *= 2 - odd*inv
	}
	return divider{k: k, inv: inv, lim: math.MaxUint64 / odd}
}

func (d *divider) divides(x uint64) bool {
	return x&(1<<d.k-1) == 0 && (x>>d.k)*d.inv <= d.lim
}

// div is x/g for a multiple x of g.
func (d *divider) div(x uint64) uint64 { return (x >> d.k) * d.inv }

func gcd(a, b uint64) uint64 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	shift := bits.TrailingZeros64(a | b)
	a >>= bits.TrailingZeros64(a)
	for b != 0 {
		b >>= bits.TrailingZeros64(b)
		if a > b {
			a, b = b, a
		}
		b -= a
	}
	return a << shift
}

// codeStats collects the distribution of the values of one code.
type codeStats struct {
	zeros int
	hist  [65]int // by bit length of v-1, for v > 0
}

func (c *codeStats) add(v uint64) {
	if v == 0 {
		c.zeros++
		return
	}
	c.hist[bitLen(v-1)]++
}

// plan picks the widths with the smallest total and returns them with the
// size in bits.
func (c *codeStats) plan() (w [4]uint8, total int) {
	var lens [65]uint8
	var cum [66]int // cum[j] = count of lens[:j]
	k := 0
	for b, h := range c.hist {
		if h > 0 {
			lens[k] = uint8(b)
			cum[k+1] = cum[k] + h
			k++
		}
	}
	if k == 0 {
		return w, c.zeros
	}
	all := cum[k]
	top := int(lens[k-1])
	// Bucket limits are indexes into lens: bucket 1 takes lens[:a+1],
	// bucket 2 lens[a+1:b+1], bucket 3 lens[b+1:c+1], bucket 4 the rest.
	best := math.MaxInt
	for a := 0; a < k; a++ {
		ca := cum[a+1] * (2 + int(lens[a]))
		if ca >= best {
			break
		}
		for b := a; b < k; b++ {
			cb := ca + (cum[b+1]-cum[a+1])*(3+int(lens[b]))
			if cb >= best {
				break
			}
			for cc := b; cc < k; cc++ {
				cost := cb + (cum[cc+1]-cum[b+1])*(4+int(lens[cc])) + (all-cum[cc+1])*(4+top)
				if cost < best {
					best = cost
					w = [4]uint8{lens[a], lens[b], lens[cc], uint8(top)}
				}
			}
		}
	}
	return w, c.zeros + best
}

// timeCode is a chosen way to write the residuals.
type timeCode struct {
	runs bool
	w    [2][4]uint8 // plain: w[0]; runs: w[0] for counts, w[1] for values
	bits int
}

// planTimes returns the smallest way to write the zigzagged residuals z.
func planTimes(z []uint64) timeCode {
	var plain, runs, vals codeStats
	run := uint64(0)
	for _, v := range z {
		if v == 0 {
			plain.zeros++
			run++
			if run == maxRun {
				runs.add(maxRun)
				run = 0
			}
			continue
		}
		plain.hist[bitLen(v-1)]++
		runs.add(run)
		vals.add(v - 1)
		run = 0
	}
	if run > 0 {
		runs.add(run) // trailing zeros
	}
	c := timeCode{}
	c.w[0], c.bits = plain.plan()
	rw, rb := runs.plan()
	vw, vb := vals.plan()
	if rb+vb+32 < c.bits {
		c = timeCode{runs: true, w: [2][4]uint8{rw, vw}, bits: rb + vb + 32}
	}
	return c
}

// appendTimes appends the timestamp section body for ts (len >= 2) and
// returns the order.
func appendTimes(dst []byte, ts []int64, sc *scratch) ([]byte, int) {
	n := len(ts)
	q := grow(sc.q, n-1) // deltas, then scaled deltas
	z := grow(sc.z, n-1) // residuals of the order being planned
	bestZ := grow(sc.bestZ, n-1)
	defer func() { sc.q, sc.z, sc.bestZ = q, z, bestZ }()

	// Pass 1: scale (GCD of the deltas) and the majority delta.
	g := uint64(ts[1]) - uint64(ts[0])
	dv := newDivider(g)
	cand, votes := g, 0
	prevD := g
	for i := range q {
		d := uint64(ts[i+1]) - uint64(ts[i])
		q[i] = d
		if d == cand {
			votes++
		} else if votes == 0 {
			cand, votes = d, 1
		} else {
			votes--
		}
		if d != prevD && !dv.divides(d) {
			g = gcd(g, d)
			dv = newDivider(g)
		}
		prevD = d
	}
	step := dv.div(cand)
	// Pass 2: scaled deltas and the grid offset, the majority of s[i] - i*D.
	var c uint64
	s, grid := uint64(0), uint64(0)
	votes = 0
	for i, d := range q {
		d = dv.div(d)
		q[i] = d
		s += d
		grid += step
		x := s - grid
		if x == c {
			votes++
		} else if votes == 0 {
			c, votes = x, 1
		} else {
			votes--
		}
	}
	// Pass 3: the size of each order. Delta first, then grid and dod
	// replace it when smaller.
	for i, d := range q {
		z[i] = zigzag(int64(d - step))
	}
	order, code := timeDelta, planTimes(z)
	z, bestZ = bestZ, z
	s, grid = 0, 0
	for i, d := range q {
		s += d
		grid += step
		z[i] = zigzag(int64(s - grid - c))
	}
	if cand := planTimes(z); cand.bits+8*uvarintLen(zigzag(int64(c))) < code.bits {
		order, code = timeGrid, cand
		z, bestZ = bestZ, z
	}
	prevQ := q[0]
	for i, d := range q {
		z[i] = zigzag(int64(d - prevQ))
		prevQ = d
	}
	if cand := planTimes(z); cand.bits < code.bits {
		order, code = timeDoD, cand
		z, bestZ = bestZ, z
	}
	// Noisy residuals: try the integer codec on the best order.
	if code.bits > 4*len(bestZ) {
		res := grow(sc.ints, len(bestZ))
		sc.ints = res
		for i, v := range bestZ {
			res[i] = unzigzag(v)
		}
		if p := planInts(res, sc, rawOnly); 8*p.size < code.bits {
			dst = appendTimesHead(dst, g, step, c, q[0], order, codeInts+p.mode)
			return appendInts(dst, res, p), order
		}
	}
	// Pass 4: write.
	coding := byte(codePlain)
	if code.runs {
		coding = codeRuns
	}
	dst = appendTimesHead(dst, g, step, c, q[0], order, coding)
	dst = append(dst, code.w[0][:]...)
	w := bitWriter{buf: dst}
	if !code.runs {
		for _, v := range bestZ {
			writeCode(&w, v, &code.w[0])
		}
		return w.flush(), order
	}
	w.buf = append(w.buf, code.w[1][:]...)
	run := uint64(0)
	for _, v := range bestZ {
		if v == 0 {
			run++
			if run == maxRun {
				writeCode(&w, maxRun, &code.w[0])
				run = 0
			}
			continue
		}
		writeCode(&w, run, &code.w[0])
		writeCode(&w, v-1, &code.w[1])
		run = 0
	}
	if run > 0 {
		writeCode(&w, run, &code.w[0])
	}
	return w.flush(), order
}

// appendTimesHead appends the section's parameters up to the coding byte.
func appendTimesHead(dst []byte, g, step, c, d1 uint64, order int, coding byte) []byte {
	dst = binary.AppendUvarint(dst, g)
	if order == timeDoD {
		dst = binary.AppendUvarint(dst, d1)
	} else {
		dst = binary.AppendUvarint(dst, step)
	}
	if order == timeGrid {
		dst = binary.AppendVarint(dst, int64(c))
	}
	return append(dst, coding)
}

func writeCode(w *bitWriter, z uint64, widths *[4]uint8) {
	if z == 0 {
		w.write(0, 1)
		return
	}
	v := z - 1
	bl := uint8(bitLen(v))
	j := 0
	for j < 3 && bl > widths[j] {
		j++
	}
	pre := codePrefix[j]
	wd := uint(widths[j])
	if pre.len+wd <= 64 {
		w.write(pre.bits<<wd|v, pre.len+wd)
		return
	}
	w.write(pre.bits, pre.len)
	w.write(v, wd)
}

// decodeTimes decodes the timestamp section body into out (len >= 2),
// out[0] being the first timestamp from the header.
func decodeTimes(src []byte, order int, first int64, out []int64) error {
	g, k := binary.Uvarint(src)
	if k <= 0 {
		return corrupt("timestamp section: bad scale")
	}
	if g == 0 {
		return corrupt("timestamp section: scale is 0")
	}
	p := k
	d, k := binary.Uvarint(src[p:])
	if k <= 0 {
		return corrupt("timestamp section: bad base step")
	}
	p += k
	var c uint64
	if order == timeGrid {
		cv, k := binary.Varint(src[p:])
		if k <= 0 {
			return corrupt("timestamp section: bad grid offset")
		}
		c = uint64(cv)
		p += k
	}
	if p >= len(src) {
		return corrupt("timestamp section: missing coding")
	}
	coding := src[p]
	p++
	res := out[1:] // residuals first, then timestamps in place
	switch {
	case coding == codePlain || coding == codeRuns:
		var widths [2][4]uint
		nw := 1 + int(coding)
		if len(src)-p < 4*nw {
			return corrupt("timestamp section: truncated code widths")
		}
		for i := range nw {
			for j := range 4 {
				widths[i][j] = uint(src[p])
				if widths[i][j] > 64 {
					return corrupt("timestamp section: code width %d > 64", widths[i][j])
				}
				p++
			}
		}
		r := newBitReader(src[p:])
		if coding == codePlain {
			r.readCodes(res, &widths[0])
		} else if err := r.readRuns(res, &widths); err != nil {
			return err
		}
		if r.over {
			return corrupt("timestamp section truncated at bit %d", r.at)
		}
		p += r.bytesUsed()
	case coding >= codeInts && coding < codeInts+intRLE:
		used, err := decodeInts(src[p:], coding-codeInts, res, "timestamp")
		if err != nil {
			return err
		}
		p += used
	default:
		return corrupt("timestamp section: unknown coding %d", coding)
	}
	if p != len(src) {
		return corrupt("timestamp section has %d bytes, used %d", len(src), p)
	}
	out[0] = first
	t0 := uint64(first)
	switch order {
	case timeGrid:
		grid := c
		for i, r := range res {
			grid += d
			res[i] = int64(t0 + (grid+uint64(r))*g)
		}
	case timeDelta:
		s := uint64(0)
		for i, r := range res {
			s += d + uint64(r)
			res[i] = int64(t0 + s*g)
		}
	default:
		s, delta := uint64(0), d
		for i, r := range res {
			delta += uint64(r)
			s += delta
			res[i] = int64(t0 + s*g)
		}
	}
	prev := out[0]
	for i, t := range res {
		if t <= prev {
			return corrupt("timestamp %d at point %d not after %d", t, i+1, prev)
		}
		prev = t
	}
	return nil
}

// readCode reads one value of the prefix code.
func (r *bitReader) readCode(widths *[4]uint) uint64 {
	if r.n < 4 {
		r.refill()
	}
	if int64(r.acc) >= 0 { // 0: zero
		if r.n == 0 {
			r.fail()
		}
		r.acc <<= 1
		r.n--
		return 0
	}
	j := min(bits.LeadingZeros64(^r.acc), 4) - 1
	pl := codePrefix[j].len
	if r.n < pl {
		r.fail()
	}
	r.acc <<= pl
	r.n -= pl
	return r.read64(widths[j]) + 1
}

// readCodes fills out with residuals (unzigzagged values of the prefix
// code); the loop keeps the reader state in registers and leaves the rare
// cases to readCode.
func (r *bitReader) readCodes(out []int64, widths *[4]uint) {
	a, n, off, src := r.acc, r.n, r.off, r.src
	// Per bucket: prefix length, width, and the shift and mask that take
	// width bits from the top of a without shifts by 64 (see unpackRice).
	var pl, wd, sh [4]uint
	var mask [4]uint64
	for j, w := range widths {
		pl[j], wd[j] = codePrefix[j].len, w&63
		sh[j], mask[j] = (64-w)&63, uint64(1)<<(w&63)-1
	}
	for i := range out {
		if n < 32 && off+8 <= len(src) {
			a |= binary.BigEndian.Uint64(src[off:]) >> n
			m := (63 - n) >> 3
			off += int(m)
			n += m << 3
		}
		if int64(a) >= 0 {
			if n >= 1 {
				a <<= 1
				n--
				out[i] = 0
				continue
			}
		} else {
			j := min(bits.LeadingZeros64(^a), 4) - 1
			if p, w := pl[j&3], widths[j&3]; p+w <= n {
				a <<= p & 63
				v := a >> sh[j&3] & mask[j&3]
				a <<= wd[j&3]
				n -= p + w
				out[i] = unzigzag(v + 1)
				continue
			}
		}
		r.acc, r.n, r.off = a, n, off
		out[i] = unzigzag(r.readCode(widths))
		a, n, off = r.acc, r.n, r.off
	}
	r.acc, r.n, r.off = a, n, off
}

// readRuns fills out with residuals written as runs (codeRuns).
func (r *bitReader) readRuns(out []int64, widths *[2][4]uint) error {
	for i := 0; i < len(out); {
		zeros := r.readCode(&widths[0])
		if zeros > maxRun || zeros > uint64(len(out)-i) {
			if r.over {
				return nil
			}
			return corrupt("timestamp section: run of %d zeros at point %d (max %d, %d points left)", zeros, i+1, maxRun, len(out)-i)
		}
		clear(out[i : i+int(zeros)])
		i += int(zeros)
		if zeros == maxRun || i == len(out) {
			continue
		}
		out[i] = unzigzag(r.readCode(&widths[1]) + 1)
		i++
	}
	return nil
}
