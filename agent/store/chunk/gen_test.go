package chunk

import (
	"math"
	"math/rand/v2"

	"github.com/sluice-edge/sluice/connectors/point"
)

// processSeries generates the benchmark data set: n points of a process
// value sampled every 100 ms by a source that stamps in whole milliseconds,
// about 10% of the stamps late by 0-4 ms, the value a random walk (normal
// steps, sigma 0.05) starting around 50 and recorded with 2 decimals
// (12.34). It is deterministic for a seed and self-contained (math,
// math/rand/v2), so other packages' benchmarks can copy it.
func processSeries(n int, seed uint64) (times []int64, values []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	times = make([]int64, n)
	values = make([]float64, n)
	const (
		period = 100 * 1e6 // ns
		ms     = 1e6       // ns
	)
	t0 := int64(1_767_225_600_000) * ms // 2026-01-01T00:00:00Z
	v := 50 + rng.NormFloat64()
	for i := range n {
		t := t0 + int64(i)*period
		if rng.Float64() < 0.1 {
			t += int64(rng.IntN(5)) * ms
		}
		times[i] = t
		v += rng.NormFloat64() * 0.05
		values[i] = math.Round(v*100) / 100
	}
	return times, values
}

// processChunks cuts processSeries(chunks*size, seed) into float blocks of
// size points.
func processChunks(chunks, size int, seed uint64) []*Block {
	times, values := processSeries(chunks*size, seed)
	blocks := make([]*Block, chunks)
	for i := range blocks {
		blocks[i] = &Block{
			Kind:    point.KindFloat,
			Times:   times[i*size : (i+1)*size],
			Floats:  values[i*size : (i+1)*size],
			Quality: make([]uint32, size),
		}
	}
	return blocks
}
