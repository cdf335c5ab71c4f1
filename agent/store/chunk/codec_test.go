package chunk

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sluice-edge/sluice/connectors/point"
)

func TestGCDAndDivider(t *testing.T) {
	for _, tt := range []struct{ a, b, want uint64 }{
		{0, 0, 0}, {0, 7, 7}, {7, 0, 7}, {12, 18, 6}, {1e6, 100e6, 1e6}, {1 << 63, 1 << 40, 1 << 40},
		{math.MaxUint64, 3, 3}, {math.MaxUint64, math.MaxUint64 - 1, 1},
	} {
		if got := gcd(tt.a, tt.b); got != tt.want {
			t.Errorf("gcd(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		g := rng.Uint64() >> rng.IntN(64)
		if g == 0 {
			g = 1
		}
		dv := newDivider(g)
		m := rng.Uint64() / g
		x := m * g
		if !dv.divides(x) || dv.div(x) != m {
			t.Fatalf("g=%d: %d = %d*g: divides %v, div %d", g, x, m, dv.divides(x), dv.div(x))
		}
		if y := x + 1 + rng.Uint64()%g; y%g != 0 && dv.divides(y) {
			t.Fatalf("g=%d: divides(%d) but remainder %d", g, y, y%g)
		}
	}
}

// TestBlocks writes blocks with forced plans, including Rice escapes,
// wide Rice parameters and full 64-bit widths, and reads them back.
func TestBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sets := map[string][]uint64{
		"small":    {0, 1, 2, 3, 1, 0, 5},
		"extremes": {0, math.MaxUint64, 1 << 63, 1<<63 - 1, 1, math.MaxUint64 - 1},
		"spiky": func() []uint64 {
			v := make([]uint64, blockLen)
			for i := range v {
				v[i] = uint64(rng.Int64N(40) - 20)
			}
			v[17], v[90] = 1<<40, 1<<63
			return v
		}(),
		"wide": func() []uint64 {
			v := make([]uint64, blockLen)
			for i := range v {
				v[i] = rng.Uint64() >> rng.IntN(64)
			}
			return v
		}(),
	}
	for name, blk := range sets {
		plans := []blockPlan{planBlock(blk, true), planBlock(blk, false)}
		for _, k := range []uint{0, 1, 3, 13, 30, 47, 50, 62, 63} {
			plans = append(plans, blockPlan{rice: true, k: k, base: blk[0]})
		}
		for _, w := range []uint{64} {
			plans = append(plans, blockPlan{k: w, base: 0})
		}
		for _, p := range plans {
			w := bitWriter{}
			writeBlock(&w, blk, p)
			buf := w.flush()
			out := make([]int64, len(blk))
			used, err := decodeInts(buf, intRaw, out, "test")
			if err != nil {
				t.Fatalf("%s %+v: %v", name, p, err)
			}
			if used != len(buf) {
				t.Errorf("%s %+v: used %d of %d bytes", name, p, used, len(buf))
			}
			for i := range blk {
				if uint64(out[i]) != blk[i] {
					t.Fatalf("%s %+v: value %d = %#x, want %#x", name, p, i, out[i], blk[i])
				}
			}
			if p.bits > 0 && (p.bits+7)/8 != len(buf) {
				t.Errorf("%s %+v: planned %d bits, wrote %d bytes", name, p, p.bits, len(buf))
			}
		}
	}
}

// TestRiceBeatsFOR checks that noisy deltas with outliers use Rice blocks
// with escapes and round-trip.
func TestRiceBeatsFOR(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	v := make([]int64, 4096)
	x := int64(0)
	for i := range v {
		x += int64(rng.NormFloat64() * 30)
		if i%500 == 250 {
			x += 1 << 35 // a glitch
		}
		v[i] = x
	}
	b := intBlock(point.KindInt, v)
	enc := roundTrip(t, b)
	var sc scratch
	p := planInts(v, &sc, allModes)
	rice, escapes := 0, 0
	for j, bp := range p.blocks {
		if !bp.rice {
			continue
		}
		rice++
		for i := 1 + j*blockLen; i < min(1+(j+1)*blockLen, len(v)); i++ {
			u := zigzag(v[i] - v[i-1] - int64(bp.base))
			if u>>bp.k >= riceEscape {
				escapes++
			}
		}
	}
	if p.mode != intDelta || rice < len(p.blocks)/2 || escapes == 0 {
		t.Errorf("mode %d, %d of %d blocks Rice, %d escapes", p.mode, rice, len(p.blocks), escapes)
	}
	t.Logf("%d bytes, %.2f bits/value", len(enc), 8*float64(len(enc))/4096)
}

func TestBitWriterReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	type item struct {
		v uint64
		k uint
	}
	var items []item
	w := bitWriter{}
	for range 5000 {
		k := uint(rng.IntN(65))
		v := rng.Uint64() >> (64 - k) // k == 0: v == 0 after the shift by 64
		if k == 0 {
			v = 0
		}
		items = append(items, item{v, k})
		w.write(v|rng.Uint64()<<k, k) // junk above k is masked
	}
	buf := w.flush()
	r := newBitReader(buf)
	for i, it := range items {
		if got := r.read64(it.k); got != it.v {
			t.Fatalf("item %d: read64(%d) = %#x, want %#x", i, it.k, got, it.v)
		}
	}
	if r.over {
		t.Fatal("overrun")
	}
	r.read64(64)
	if !r.over {
		t.Fatal("no overrun past the end")
	}
}
