package peers

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

var benchBig = flag.Bool("peers.big", false, "also run BenchmarkEvaluate with 1,000,000 series (10,000 groups of 100)")

// buildBenchStore fills a store with groups × members series of the rule
// peer_bench (window 30, step 1m): every group has its own level (1 to
// 1e6), members follow it with 2% noise, and one member in ten groups is
// shifted by 50%. It returns the store, the evaluation time, the ingest
// rate and the heap the store holds.
func buildBenchStore(b *testing.B, groups, members int) (*Store, time.Time, float64, uint64) {
	b.Helper()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := New(context.Background(), Options{MaxSeries: -1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddRule(context.Background(), Rule{Name: "bench", Match: "peer_bench", GroupBy: []string{"group"}, Member: "member", Window: 30, Step: time.Minute}); err != nil {
		b.Fatal(err)
	}
	names := make([]string, 0, groups*members)
	levels := make([]float64, groups*members)
	r := rand.New(rand.NewPCG(1, 2))
	for g := range groups {
		level := math.Pow(10, 6*r.Float64())
		for m := range members {
			names = append(names, fmt.Sprintf(`peer_bench{group="g%05d",member="m%03d"}`, g, m))
			l := level
			if g%10 == 0 && m == 0 {
				l *= 1.5
			}
			levels[g*members+m] = l
		}
	}
	const batch = 10_000
	buf := make([]anomaly.Sample, 0, batch)
	began := time.Now()
	samples := 0
	for k := range 30 {
		ts := stepTime(k).Add(10 * time.Second).UnixMilli()
		for i, name := range names {
			swing := 1 + 0.2*math.Sin(2*math.Pi*float64(k)/30)
			buf = append(buf, anomaly.Sample{Series: name, TimestampMs: ts, Value: levels[i] * (swing + 0.02*r.NormFloat64())})
			if len(buf) == batch {
				s.Observe(buf)
				samples += len(buf)
				buf = buf[:0]
			}
		}
		s.Observe(buf)
		samples += len(buf)
		buf = buf[:0]
	}
	rate := float64(samples) / time.Since(began).Seconds()
	names, levels = nil, nil
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	return s, stepTime(30), rate, after.HeapAlloc - before.HeapAlloc
}

// BenchmarkEvaluate is one full peer evaluation: 100,000 series (1,000
// groups of 100 members, window 30) by default, and 1,000,000 (10,000
// groups) with -peers.big. Besides time and B/op it reports the heap the
// store holds (heap-MB, bytes/series), the rate at which it was filled
// through Observe (ingest-samples/s) and the outliers found (one planted
// per ten groups).
func BenchmarkEvaluate(b *testing.B) {
	sizes := []int{1_000}
	if *benchBig {
		sizes = append(sizes, 10_000)
	}
	for _, groups := range sizes {
		b.Run(fmt.Sprintf("series=%d", groups*100), func(b *testing.B) {
			s, now, rate, heap := buildBenchStore(b, groups, 100)
			var flagged []GroupResult
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				var err error
				if flagged, err = s.Evaluate(context.Background(), now); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			outliers := 0
			for _, g := range flagged {
				outliers += g.Outliers
			}
			b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
			b.ReportMetric(float64(heap)/float64(groups*100), "bytes/series")
			b.ReportMetric(rate, "ingest-samples/s")
			b.ReportMetric(float64(outliers), "outliers")
		})
	}
}

// BenchmarkDetectMembers is the stateless call on a group of 100 members
// with 30 values each.
func BenchmarkDetectMembers(b *testing.B) {
	rows := synthGroup(1, 30, 100, kinds(100, map[int]kind{3: shifted}))
	req := detectReq(rows)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DetectMembers(req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserve measures ingest of samples for 100,000 tracked series
// in batches of 10,000 (steady state: windows exist).
func BenchmarkObserve(b *testing.B) {
	s, _, _, _ := buildBenchStore(b, 1_000, 100)
	batch := make([]anomaly.Sample, 10_000)
	for i := range batch {
		batch[i] = anomaly.Sample{Series: fmt.Sprintf(`peer_bench{group="g%05d",member="m%03d"}`, i/100, i%100), Value: float64(i)}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	k := 30
	for b.Loop() {
		ts := stepTime(k).UnixMilli()
		for i := range batch {
			batch[i].TimestampMs = ts
		}
		s.Observe(batch)
		k++
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
}
