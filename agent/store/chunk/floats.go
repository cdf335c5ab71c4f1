package chunk

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Float value section, mode floatALP:
//
//	byte e           decimal exponent, 0..18
//	uvarint(x)       number of exceptions
//	x uvarints       exception positions: first, then gaps-1
//	byte mode        integer codec mode
//	ints             the integers n[i] (integer codec); v[i] = float64(n[i]) / 10^e
//	bits             exception values, Gorilla XOR coded, zero padded
//
// A value is an exception when float64(round(v*10^e))/10^e is not v bit
// for bit (NaN, ±Inf, -0, too many digits, |v*10^e| > 2^53); its slot in
// n holds the previous integer so it costs no delta. The decoder computes
// exactly the expression the encoder checked, and IEEE division is
// correctly rounded, so decoding is bit-exact on every platform.
//
// Mode floatXOR is Gorilla's XOR scheme over the whole column: 64 bits
// for the first value, then per value "0" (same), "10"+bits (inside the
// previous leading/trailing-zero window), or "11"+5 bits leading zeros+6
// bits length+bits.
const (
	floatALP byte = 0
	floatXOR byte = 1
)

const maxExp = 18

var pow10 = [maxExp + 1]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8,
	1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// alpInt returns round(v*10^e) and whether decoding it gives v back.
func alpInt(v float64, e int) (int64, bool) {
	x := float64(v * pow10[e])
	if !(x >= -(1<<53) && x <= 1<<53) { // also false for NaN
		return 0, false
	}
	n := int64(math.RoundToEven(x))
	return n, math.Float64bits(float64(n)/pow10[e]) == math.Float64bits(v)
}

// alpExp returns the smallest exponent at which v round-trips, or
// maxExp+1.
func alpExp(v float64) int {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return maxExp + 1
	}
	for e := 0; e <= maxExp; e++ {
		if _, ok := alpInt(v, e); ok {
			return e
		}
	}
	return maxExp + 1
}

// chooseExp picks the exponent from a sample of the values: every extra
// digit costs about 3.3 bits per value, every exception about 80 bits. It
// returns -1 when no sampled value is a decimal.
func chooseExp(vals []float64) int {
	const samples = 64
	var cnt [maxExp + 2]int
	step := max(1, len(vals)/samples)
	m := 0
	for i := 0; i < len(vals); i += step {
		cnt[alpExp(vals[i])]++
		m++
	}
	best, bestCost := -1, math.MaxInt
	ok := 0
	for e := 0; e <= maxExp; e++ {
		ok += cnt[e]
		if cnt[e] == 0 {
			continue
		}
		cost := (m-ok)*240 + ok*e*10
		if cost < bestCost {
			best, bestCost = e, cost
		}
	}
	return best
}

// appendFloats appends the value section body and returns its mode.
func appendFloats(dst []byte, vals []float64, sc *scratch) ([]byte, byte) {
	n := len(vals)
	e := chooseExp(vals)
	if e < 0 {
		return appendXOR(dst, vals), floatXOR
	}
	ints := grow(sc.ints, n)
	sc.ints = ints
	exc := sc.exc[:0]
	last, seen := int64(0), false
	for i, v := range vals {
		x, ok := alpInt(v, e)
		if !ok {
			exc = append(exc, int32(i))
			x = last
		} else if !seen {
			seen = true
			for j := range i { // leading exceptions take the first integer
				ints[j] = x
			}
		}
		ints[i] = x
		last = x
	}
	sc.exc = exc
	if !seen || len(exc) > n/2 {
		return appendXOR(dst, vals), floatXOR
	}
	excv := sc.excv[:0]
	for _, i := range exc {
		excv = append(excv, vals[i])
	}
	sc.excv = excv
	ip := planInts(ints, sc, allModes)
	alpBits := 8 * (3 + uvarintLen(uint64(len(exc))) + ip.size)
	prev := int32(-1)
	for _, i := range exc {
		alpBits += 8 * uvarintLen(uint64(i-prev-1))
		prev = i
	}
	if len(excv) > 0 {
		alpBits += xorBits(excv)
	}
	if alpBits > 12*n || len(exc)*32 > n {
		if xorBits(vals)+8 < alpBits {
			return appendXOR(dst, vals), floatXOR
		}
	}
	dst = append(dst, byte(e))
	dst = binary.AppendUvarint(dst, uint64(len(exc)))
	prev = -1
	for _, i := range exc {
		dst = binary.AppendUvarint(dst, uint64(i-prev-1))
		prev = i
	}
	dst = append(dst, ip.mode)
	dst = appendInts(dst, ints, ip)
	if len(excv) > 0 {
		dst = appendXOR(dst, excv)
	}
	return dst, floatALP
}

func appendXOR(dst []byte, vals []float64) []byte {
	w := bitWriter{buf: dst}
	prev := math.Float64bits(vals[0])
	w.write(prev, 64)
	var lead, trail uint
	win := false
	for _, v := range vals[1:] {
		cur := math.Float64bits(v)
		x := cur ^ prev
		prev = cur
		if x == 0 {
			w.write(0, 1)
			continue
		}
		l := min(uint(bits.LeadingZeros64(x)), 31)
		t := uint(bits.TrailingZeros64(x))
		if win && l >= lead && t >= trail {
			w.write(0b10, 2)
			w.write(x>>trail, 64-lead-trail)
			continue
		}
		lead, trail, win = l, t, true
		sig := 64 - l - t
		w.write(0b11<<11|uint64(l)<<6|uint64(sig&63), 13)
		w.write(x>>t, sig)
	}
	return w.flush()
}

// xorBits is the size of appendXOR's output in bits (before padding).
func xorBits(vals []float64) int {
	total := 64
	prev := math.Float64bits(vals[0])
	var lead, trail uint
	win := false
	for _, v := range vals[1:] {
		cur := math.Float64bits(v)
		x := cur ^ prev
		prev = cur
		if x == 0 {
			total++
			continue
		}
		l := min(uint(bits.LeadingZeros64(x)), 31)
		t := uint(bits.TrailingZeros64(x))
		if win && l >= lead && t >= trail {
			total += 2 + int(64-lead-trail)
			continue
		}
		lead, trail, win = l, t, true
		total += 13 + int(64-l-t)
	}
	return total
}

// xorReader decodes a Gorilla XOR stream value by value.
type xorReader struct {
	r     bitReader
	prev  uint64
	trail uint
	sig   uint
	win   bool
	first bool
	bad   string // what was wrong, if anything
}

func newXORReader(src []byte) xorReader {
	return xorReader{r: newBitReader(src), first: true}
}

func (x *xorReader) next() uint64 {
	r := &x.r
	if x.first {
		x.first = false
		x.prev = r.read64(64)
		return x.prev
	}
	if r.read(1) == 0 {
		return x.prev
	}
	if r.read(1) == 0 {
		if !x.win && !r.over && x.bad == "" {
			x.bad = "window reused before one was set"
		}
	} else {
		h := r.read(11)
		l, s := uint(h>>6), uint(h&63)
		if s == 0 {
			s = 64
		}
		if l+s > 64 {
			if !r.over && x.bad == "" {
				x.bad = "leading zeros plus length exceed 64"
			}
			s = 64 - l
		}
		x.trail, x.sig, x.win = 64-l-s, s, true
	}
	x.prev ^= r.read64(x.sig) << x.trail
	return x.prev
}

// err reports a malformed or truncated stream.
func (x *xorReader) err(what string) error {
	if x.r.over {
		return corrupt("%s truncated at bit %d", what, x.r.at)
	}
	if x.bad != "" {
		return corrupt("%s: %s at bit %d", what, x.bad, x.r.pos())
	}
	return nil
}

// decodeFloats decodes the value section body of a float chunk into out,
// using ints (same length) as scratch.
func decodeFloats(src []byte, mode byte, out []float64, ints []int64) error {
	n := len(out)
	if mode == floatXOR {
		x := newXORReader(src)
		for i := range out {
			out[i] = math.Float64frombits(x.next())
		}
		if err := x.err("value section"); err != nil {
			return err
		}
		if used := x.r.bytesUsed(); used != len(src) {
			return corrupt("value section has %d bytes, used %d", len(src), used)
		}
		return nil
	}
	if mode != floatALP {
		return corrupt("unknown float mode %d", mode)
	}
	if len(src) < 1 || src[0] > maxExp {
		return corrupt("value section: bad decimal exponent")
	}
	div := pow10[src[0]]
	p := 1
	nexc, k := binary.Uvarint(src[p:])
	if k <= 0 || nexc > uint64(n) {
		return corrupt("value section: bad exception count")
	}
	p += k
	excStart := p
	pos := int64(-1)
	for range nexc {
		gap, k := binary.Uvarint(src[p:])
		if k <= 0 || gap >= uint64(n) || pos+int64(gap)+1 >= int64(n) {
			return corrupt("value section: bad exception position at byte %d", p)
		}
		pos += int64(gap) + 1
		p += k
	}
	if p >= len(src) {
		return corrupt("value section: missing integer mode")
	}
	imode := src[p]
	p++
	used, err := decodeInts(src[p:], imode, ints, "value")
	if err != nil {
		return err
	}
	p += used
	for i, v := range ints[:n] {
		out[i] = float64(v) / div
	}
	if nexc > 0 {
		x := newXORReader(src[p:])
		q := excStart
		pos := -1
		for range nexc {
			gap, k := binary.Uvarint(src[q:])
			q += k
			pos += int(gap) + 1
			out[pos] = math.Float64frombits(x.next())
		}
		if err := x.err("value exceptions"); err != nil {
			return err
		}
		p += x.r.bytesUsed()
	}
	if p != len(src) {
		return corrupt("value section has %d bytes, used %d", len(src), p)
	}
	return nil
}
