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
//	4 bytes     widths w1..w4 of the residual code
//	bits        count-1 residuals r[1..count-1], then zero padding
//
// The residuals depend on the order (time flags of the header):
//
//	order 0 (grid):  r[i] = s[i] - i*D - c        jitter around a fixed grid
//	order 1 (delta): r[i] = (s[i]-s[i-1]) - D      gaps, drifting phase
//	order 2 (dod):   r[i] = delta[i] - delta[i-1]  with delta[0] = D (Gorilla)
//
// The encoder computes the exact size of all three and keeps the smallest.
// All arithmetic is modulo 2^64, so any strictly increasing int64 series
// round-trips, including spans wider than MaxInt64.
//
// A residual is zigzagged to z and written with a prefix code whose widths
// are chosen per chunk for the smallest size:
//
//	0             z == 0
//	10   + w1 bits  z-1
//	110  + w2 bits  z-1
//	1110 + w3 bits  z-1
//	1111 + w4 bits  z-1  (w4 covers the largest z)

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

// codeStats collects the residual distribution of one order.
type codeStats struct {
	zeros int
	hist  [65]int // by bit length of z-1, for z > 0
}

func (c *codeStats) add(r uint64) {
	z := zigzag(int64(r))
	if z == 0 {
		c.zeros++
		return
	}
	c.hist[bitLen(z-1)]++
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

// timeParams are what the encoder derives from the timestamps.
type timeParams struct {
	g  uint64
	dv divider
	d  uint64 // base step (units of g); for order 2 the first delta
	c  uint64 // order 0 grid offset
}

// appendTimes appends the timestamp section body for ts (len >= 2) and
// returns the order used.
func appendTimes(dst []byte, ts []int64) ([]byte, int) {
	n := len(ts)
	// Pass 1: scale (GCD of the deltas) and the majority delta.
	g := uint64(ts[1]) - uint64(ts[0])
	dv := newDivider(g)
	cand, votes := g, 0
	prev := ts[0]
	for _, t := range ts[1:] {
		d := uint64(t) - uint64(prev)
		prev = t
		if d == cand {
			votes++
		} else if votes == 0 {
			cand, votes = d, 1
		} else {
			votes--
		}
		if !dv.divides(d) {
			g = gcd(g, d)
			dv = newDivider(g)
		}
	}
	p := timeParams{g: g, dv: dv, d: dv.div(cand)}
	// Pass 2: the grid offset, the majority of s[i] - i*D.
	s, grid := uint64(0), uint64(0)
	votes = 0
	for i := 1; i < n; i++ {
		s += dv.div(uint64(ts[i]) - uint64(ts[i-1]))
		grid += p.d
		x := s - grid
		if x == p.c {
			votes++
		} else if votes == 0 {
			p.c, votes = x, 1
		} else {
			votes--
		}
	}
	// Pass 3: the size of each order.
	var st [numOrders]codeStats
	d1 := dv.div(uint64(ts[1]) - uint64(ts[0]))
	s, grid = 0, 0
	prevQ := d1
	for i := 1; i < n; i++ {
		q := dv.div(uint64(ts[i]) - uint64(ts[i-1]))
		s += q
		grid += p.d
		st[timeGrid].add(s - grid - p.c)
		st[timeDelta].add(q - p.d)
		st[timeDoD].add(q - prevQ)
		prevQ = q
	}
	order := timeDelta
	widths, best := st[timeDelta].plan()
	for _, o := range []int{timeGrid, timeDoD} {
		w, size := st[o].plan()
		if o == timeGrid {
			size += 8 * uvarintLen(zigzag(int64(p.c)))
		}
		if size < best {
			order, widths, best = o, w, size
		}
	}
	// Pass 4: write.
	dst = binary.AppendUvarint(dst, g)
	if order == timeDoD {
		dst = binary.AppendUvarint(dst, d1)
	} else {
		dst = binary.AppendUvarint(dst, p.d)
	}
	if order == timeGrid {
		dst = binary.AppendVarint(dst, int64(p.c))
	}
	dst = append(dst, widths[0], widths[1], widths[2], widths[3])
	w := bitWriter{buf: dst}
	s, grid = 0, 0
	prevQ = d1
	for i := 1; i < n; i++ {
		q := dv.div(uint64(ts[i]) - uint64(ts[i-1]))
		var r uint64
		switch order {
		case timeGrid:
			s += q
			grid += p.d
			r = s - grid - p.c
		case timeDelta:
			r = q - p.d
		default:
			r = q - prevQ
			prevQ = q
		}
		writeCode(&w, zigzag(int64(r)), &widths)
	}
	return w.flush(), order
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
	if len(src)-p < 4 {
		return corrupt("timestamp section: truncated code widths")
	}
	var widths [4]uint
	for j := range widths {
		widths[j] = uint(src[p+j])
		if widths[j] > 64 {
			return corrupt("timestamp section: code width %d > 64", widths[j])
		}
	}
	p += 4
	r := newBitReader(src[p:])
	out[0] = first
	t0 := uint64(first)
	switch order {
	case timeGrid:
		grid := c
		for i := 1; i < len(out); i++ {
			grid += d
			s := grid + uint64(unzigzag(r.readCode(&widths)))
			out[i] = int64(t0 + s*g)
		}
	case timeDelta:
		s := uint64(0)
		for i := 1; i < len(out); i++ {
			s += d + uint64(unzigzag(r.readCode(&widths)))
			out[i] = int64(t0 + s*g)
		}
	default:
		s, delta := uint64(0), d
		for i := 1; i < len(out); i++ {
			delta += uint64(unzigzag(r.readCode(&widths)))
			s += delta
			out[i] = int64(t0 + s*g)
		}
	}
	if r.over {
		return corrupt("timestamp section truncated at bit %d", r.at)
	}
	if used := p + r.bytesUsed(); used != len(src) {
		return corrupt("timestamp section has %d bytes, used %d", len(src), used)
	}
	prev := out[0]
	for i, t := range out[1:] {
		if t <= prev {
			return corrupt("timestamp %d at point %d not after %d", t, i+1, prev)
		}
		prev = t
	}
	return nil
}

// readCode reads one residual of the prefix code.
func (r *bitReader) readCode(widths *[4]uint) uint64 {
	if r.n < 4 {
		r.refill()
	}
	if int64(r.acc) >= 0 { // 0: zero residual
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
