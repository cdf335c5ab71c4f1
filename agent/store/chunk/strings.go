package chunk

import (
	"encoding/binary"
)

// String value section:
//
//	uvarint(d)       dictionary size, 1..count
//	d uvarints       lengths of the distinct strings, in order of first use
//	bytes            the distinct strings, concatenated
//	ints             per point the dictionary index (integer codec, mode in
//	                 the header's value mode bits)

// appendStrings appends the section body and returns the index mode.
func appendStrings(dst []byte, vals []string, sc *scratch) ([]byte, byte) {
	if sc.dict == nil {
		sc.dict = make(map[string]uint32)
	}
	dict := sc.dict
	clear(dict)
	idx := grow(sc.idx, len(vals))
	sc.idx = idx
	// Distinct strings go in order of first use; count them first so the
	// lengths can follow the size without a second buffer.
	distinct := 0
	prev, j := "", uint32(0)
	for i, s := range vals {
		if i == 0 || s != prev {
			var ok bool
			j, ok = dict[s]
			if !ok {
				j = uint32(distinct)
				dict[s] = j
				distinct++
			}
			prev = s
		}
		idx[i] = j
	}
	dst = binary.AppendUvarint(dst, uint64(distinct))
	next := uint32(0)
	for i, s := range vals {
		if idx[i] == next {
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			next++
		}
	}
	next = 0
	for i, s := range vals {
		if idx[i] == next {
			dst = append(dst, s...)
			next++
		}
	}
	clear(dict)
	p := planInts(idx, sc, allModes)
	return appendInts(dst, idx, p), p.mode
}

// decodeStrings decodes the section body into out, using idx (same length)
// as scratch. The distinct strings share one allocation.
func decodeStrings(src []byte, mode byte, out []string, idx []uint32) error {
	n := len(out)
	d, k := binary.Uvarint(src)
	if k <= 0 || d == 0 || d > uint64(n) {
		return corrupt("string section: bad dictionary size")
	}
	p := k
	// Every length takes at least one byte, which bounds d by the input
	// before anything is allocated.
	if d > uint64(len(src)-p) {
		return corrupt("string section: dictionary of %d strings in %d bytes", d, len(src)-p)
	}
	lensAt := p
	total := uint64(0)
	for range d {
		l, k := binary.Uvarint(src[p:])
		if k <= 0 {
			return corrupt("string section: bad string length at byte %d", p)
		}
		p += k
		total += l
		if l > uint64(len(src)) || total > uint64(len(src)-p) {
			return corrupt("string section: strings longer than the section")
		}
	}
	all := string(src[p : p+int(total)])
	p += int(total)
	dict := make([]string, d)
	q, off := lensAt, 0
	for i := range dict {
		l, k := binary.Uvarint(src[q:])
		q += k
		dict[i] = all[off : off+int(l)]
		off += int(l)
	}
	used, err := decodeInts(src[p:], mode, idx, "string index")
	if err != nil {
		return err
	}
	if p+used != len(src) {
		return corrupt("string section has %d bytes, used %d", len(src), p+used)
	}
	for i, j := range idx {
		if uint64(j) >= d {
			return corrupt("string index %d at point %d out of dictionary of %d", j, i, d)
		}
		out[i] = dict[j]
	}
	return nil
}
