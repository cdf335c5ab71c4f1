package chunk

import (
	"math"
	"testing"
)

func TestScratchEntropy(t *testing.T) {
	blocks := processChunks(16, 4096, 1)
	var H, forb [5]float64
	sizes := []int{16, 32, 64, 128, 256}
	var bucket, ent float64
	for _, b := range blocks {
		ints := make([]int64, len(b.Floats))
		for i, v := range b.Floats {
			ints[i], _ = alpInt(v, 2)
		}
		cnt := map[int64]int{}
		var st codeStats
		for i := 1; i < len(ints); i++ {
			d := ints[i] - ints[i-1]
			cnt[d]++
			st.add(uint64(d))
		}
		for _, c := range cnt {
			p := float64(c) / 4095
			ent -= float64(c) * math.Log2(p)
		}
		_, bits := st.plan()
		bucket += float64(bits)
		for k, bs := range sizes {
			for s := 1; s < len(ints); s += bs {
				e := min(s+bs, len(ints))
				mn, mx := int64(math.MaxInt64), int64(math.MinInt64)
				for i := s; i < e; i++ {
					d := ints[i] - ints[i-1]
					mn = min(mn, d)
					mx = max(mx, d)
				}
				forb[k] += float64(forBlockBits(mn, mx, e-s))
			}
		}
	}
	np := float64(16 * 4096)
	t.Logf("entropy %.3f bits/pt, bucket code %.3f", ent/np, bucket/np)
	for k, bs := range sizes {
		t.Logf("FOR %d: %.3f", bs, forb[k]/np)
	}
	_ = H
}
