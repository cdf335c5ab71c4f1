package chunk

// gorillaAppend is a reference encoder of plain Gorilla (Pelkonen et al.,
// VLDB 2015) for size comparisons: the first timestamp in 64 bits, the
// first delta in 64 bits, then per point the delta-of-delta of the ns
// timestamps with the paper's buckets ("0"; "10"+7 bits; "110"+9 bits;
// "1110"+12 bits; "1111"+32 bits, widened to 64 bits for ns values that
// do not fit) and the value with the XOR scheme (appendXOR, which is also
// the fallback mode of this package).
func gorillaAppend(dst []byte, times []int64, vals []float64) []byte {
	return appendXOR(gorillaTimes(dst, times), vals)
}

// gorillaTimes appends the timestamp part of gorillaAppend.
func gorillaTimes(dst []byte, times []int64) []byte {
	w := bitWriter{buf: dst}
	w.write(uint64(times[0]), 64)
	if len(times) > 1 {
		prevDelta := times[1] - times[0]
		w.write(uint64(prevDelta), 64)
		for i := 2; i < len(times); i++ {
			delta := times[i] - times[i-1]
			dod := delta - prevDelta
			prevDelta = delta
			switch {
			case dod == 0:
				w.write(0, 1)
			case -63 <= dod && dod <= 64:
				w.write(0b10, 2)
				w.write(uint64(dod), 7)
			case -255 <= dod && dod <= 256:
				w.write(0b110, 3)
				w.write(uint64(dod), 9)
			case -2047 <= dod && dod <= 2048:
				w.write(0b1110, 4)
				w.write(uint64(dod), 12)
			case -(1<<31-1) <= dod && dod <= 1<<31:
				w.write(0b1111, 4)
				w.write(uint64(dod), 32)
			default:
				w.write(0b1111, 4)
				w.write(0xffffffff, 32) // escape: 64 more bits
				w.write(uint64(dod), 64)
			}
		}
	}
	return w.flush()
}
