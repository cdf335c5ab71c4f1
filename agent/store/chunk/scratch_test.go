package chunk

import (
	"container/heap"
	"math"
	"math/bits"
	"testing"
)

type hnode struct{ w, id int }
type hheap []hnode

func (h hheap) Len() int           { return len(h) }
func (h hheap) Less(i, j int) bool { return h[i].w < h[j].w }
func (h hheap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *hheap) Push(x any)        { *h = append(*h, x.(hnode)) }
func (h *hheap) Pop() any          { o := *h; x := o[len(o)-1]; *h = o[:len(o)-1]; return x }

// huffCost returns total bits of an (unlimited) Huffman code for counts.
func huffCost(cnt map[int]int) int {
	h := &hheap{}
	for _, c := range cnt {
		*h = append(*h, hnode{c, 0})
	}
	if len(*h) == 1 {
		return (*h)[0].w
	}
	heap.Init(h)
	total := 0
	for h.Len() > 1 {
		a := heap.Pop(h).(hnode)
		b := heap.Pop(h).(hnode)
		total += a.w + b.w
		heap.Push(h, hnode{a.w + b.w, 0})
	}
	return total
}

func class(z uint64, mant int) (sym int, extra int) {
	if z < 1<<mant {
		return int(z), 0
	}
	l := bits.Len64(z) // >= mant+1
	top := int(z >> (l - mant - 1) & (1<<mant - 1))
	return (1 << mant) + (l-mant-1)<<mant + top, l - mant - 1
}

func TestScratchEntropy(t *testing.T) {
	blocks := processChunks(16, 4096, 1)
	var ent float64
	cls := map[int]float64{}
	for _, b := range blocks {
		ints := make([]int64, len(b.Floats))
		for i, v := range b.Floats {
			ints[i], _ = alpInt(v, 2)
		}
		cnt := map[int64]int{}
		direct := map[int]int{}
		for i := 1; i < len(ints); i++ {
			d := ints[i] - ints[i-1]
			cnt[d]++
			direct[int(zigzag(d))]++
		}
		for _, c := range cnt {
			p := float64(c) / 4095
			ent -= float64(c) * math.Log2(p)
		}
		cls[-1] += float64(huffCost(direct))
		for mant := 0; mant <= 3; mant++ {
			cc := map[int]int{}
			extra := 0
			for i := 1; i < len(ints); i++ {
				s, e := class(zigzag(ints[i]-ints[i-1]), mant)
				cc[s]++
				extra += e
			}
			cls[mant] += float64(huffCost(cc) + extra)
		}
	}
	np := float64(16 * 4096)
	t.Logf("entropy %.3f bits/pt", ent/np)
	for k := -1; k <= 3; k++ {
		t.Logf("huffman mant %d: %.3f", k, cls[k]/np)
	}
	// timestamps residual grid order
	var tsEnt float64
	for _, b := range blocks {
		cnt := map[int64]int{}
		for i := 1; i < len(b.Times); i++ {
			r := (b.Times[i]-b.Times[0])/1e6 - int64(i)*100
			cnt[r]++
		}
		for _, c := range cnt {
			tsEnt -= float64(c) * math.Log2(float64(c)/4095)
		}
	}
	t.Logf("timestamp residual entropy %.3f", tsEnt/np)
}

func TestScratchRice(t *testing.T) {
	blocks := processChunks(16, 4096, 1)
	var best [4]float64
	for _, b := range blocks {
		ints := make([]int64, len(b.Floats))
		for i, v := range b.Floats {
			ints[i], _ = alpInt(v, 2)
		}
		for bi, bs := range []int{32, 128, 512, 4096} {
			for s := 1; s < len(ints); s += bs {
				e := min(s+bs, len(ints))
				bb := math.MaxInt
				for k := 0; k < 20; k++ {
					c := 5
					for i := s; i < e; i++ {
						z := zigzag(ints[i] - ints[i-1])
						c += 1 + k + int(z>>k)
					}
					bb = min(bb, c)
				}
				best[bi] += float64(bb)
			}
		}
	}
	t.Logf("rice per 32/128/512/4096: %.3f %.3f %.3f %.3f", best[0]/65536, best[1]/65536, best[2]/65536, best[3]/65536)
}
