package chunk

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/sluice-edge/sluice/connectors/point"
)

const (
	benchChunk  = 4096 // points per chunk, as the store writes them
	benchChunks = 32   // chunks per run, so the metric is not one chunk's luck
)

// benchSets are the data sets of the benchmarks, by name.
var benchSets = []struct {
	name string
	make func() []*Block
}{
	{"process", func() []*Block { return processChunks(benchChunks, benchChunk, 1) }},
	{"counter", func() []*Block { return intChunks(benchChunks, benchChunk, 2) }},
	{"state", func() []*Block { return stringChunks(benchChunks, benchChunk, 3) }},
}

// intChunks: a packet counter polled every second (µs stamps), growing by
// 0-200 per poll, quality Bad for a stretch now and then.
func intChunks(chunks, size int, seed uint64) []*Block {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	blocks := make([]*Block, chunks)
	t := int64(1_767_225_600_000_000) * 1e3
	v := int64(1_000_000)
	bad := 0
	for c := range blocks {
		b := &Block{Kind: point.KindInt}
		for range size {
			t += 1e9 + int64(rng.IntN(2000)-1000)*1e3
			v += int64(rng.IntN(201))
			q := uint32(0)
			if bad > 0 {
				q = uint32(point.QualityBad)
				bad--
			} else if rng.IntN(1000) == 0 {
				bad = rng.IntN(50)
			}
			b.Times = append(b.Times, t)
			b.Ints = append(b.Ints, v)
			b.Quality = append(b.Quality, q)
		}
		blocks[c] = b
	}
	return blocks
}

// stringChunks: a machine state reported on change and every 10 s, ms
// stamps, from a handful of states.
func stringChunks(chunks, size int, seed uint64) []*Block {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	states := []string{"RUNNING", "IDLE", "STOPPED", "FAULT: E-STOP", "SETUP", "Störung Kühlung"}
	blocks := make([]*Block, chunks)
	t := int64(1_767_225_600_000) * 1e6
	st := states[0]
	for c := range blocks {
		b := &Block{Kind: point.KindString}
		for range size {
			t += int64(1+rng.IntN(10_000)) * 1e6
			if rng.IntN(4) == 0 {
				st = states[rng.IntN(len(states))]
			}
			b.Times = append(b.Times, t)
			b.Strings = append(b.Strings, st)
			b.Quality = append(b.Quality, 0)
		}
		blocks[c] = b
	}
	return blocks
}

// sectionSizes returns the sizes of the timestamp and value sections.
func sectionSizes(tb testing.TB, c []byte) (times, values int) {
	h, err := readHeader(c)
	if err != nil {
		tb.Fatal(err)
	}
	p := h.size
	if h.Count > 1 {
		sec, next, err := section(c, p, "timestamp")
		if err != nil {
			tb.Fatal(err)
		}
		times, p = len(sec), next
	}
	sec, _, err := section(c, p, "value")
	if err != nil {
		tb.Fatal(err)
	}
	return times, len(sec)
}

func encodeAll(b *testing.B, blocks []*Block) [][]byte {
	b.Helper()
	out := make([][]byte, len(blocks))
	for i, blk := range blocks {
		enc, err := Append(nil, blk)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = enc
	}
	return out
}

func totalLen(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

// reportSpeed replaces ns/op (an op is a whole data set) by per-point
// figures.
func reportSpeed(b *testing.B, points int) {
	b.ReportMetric(float64(points)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(points), "ns/point")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkEncode(b *testing.B) {
	for _, set := range benchSets {
		b.Run(set.name, func(b *testing.B) {
			blocks := set.make()
			size := totalLen(encodeAll(b, blocks))
			buf := make([]byte, 0, 64<<10)
			points := 0
			for b.Loop() {
				for _, blk := range blocks {
					var err error
					buf, err = Append(buf[:0], blk)
					if err != nil {
						b.Fatal(err)
					}
					points += blk.Len()
				}
			}
			reportSpeed(b, points)
			b.ReportMetric(float64(size)/float64(len(blocks)*benchChunk), "bytes/point")
			var times, values int
			for _, c := range encodeAll(b, blocks) {
				t, v := sectionSizes(b, c)
				times += t
				values += v
			}
			b.ReportMetric(8*float64(times)/float64(len(blocks)*benchChunk), "time-bits/point")
			b.ReportMetric(8*float64(values)/float64(len(blocks)*benchChunk), "value-bits/point")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, set := range benchSets {
		b.Run(set.name, func(b *testing.B) {
			chunks := encodeAll(b, set.make())
			var blk Block
			points := 0
			for b.Loop() {
				for _, c := range chunks {
					if err := Decode(c, &blk); err != nil {
						b.Fatal(err)
					}
					points += blk.Len()
				}
			}
			reportSpeed(b, points)
			b.ReportMetric(float64(totalLen(chunks))/float64(len(chunks)*benchChunk), "bytes/point")
		})
	}
}

// BenchmarkGorillaReference reports what plain Gorilla (XOR floats,
// delta-of-delta ns timestamps with the paper's buckets) takes on the
// process data set, for comparison with BenchmarkEncode/process.
func BenchmarkGorillaReference(b *testing.B) {
	blocks := processChunks(benchChunks, benchChunk, 1)
	var buf []byte
	size := 0
	points := 0
	for b.Loop() {
		size = 0
		for _, blk := range blocks {
			buf = gorillaAppend(buf[:0], blk.Times, blk.Floats)
			size += len(buf)
			points += blk.Len()
		}
	}
	reportSpeed(b, points)
	b.ReportMetric(float64(size)/float64(len(blocks)*benchChunk), "bytes/point")
	times := 0
	for _, blk := range blocks {
		times += len(gorillaTimes(nil, blk.Times))
	}
	b.ReportMetric(8*float64(times)/float64(len(blocks)*benchChunk), "time-bits/point")
	b.ReportMetric(8*float64(size-times)/float64(len(blocks)*benchChunk), "value-bits/point")
}

// BenchmarkChunkSize shows how bytes/point on the process data set depends
// on the points per chunk.
func BenchmarkChunkSize(b *testing.B) {
	for _, size := range []int{120, 512, 1024, 4096, 16384} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			n := max(1, 65536/size)
			blocks := processChunks(n, size, 1)
			total := 0
			for b.Loop() {
				total = totalLen(encodeAll(b, blocks))
			}
			b.ReportMetric(float64(total)/float64(n*size), "bytes/point")
			b.ReportMetric(0, "ns/op")
		})
	}
}
