package peers

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// buildUnequalStore fills a store like buildBenchStore, but with members
// of unequal size: within a group the members' levels are spread
// log-uniformly over a factor of 10 (the group's own level from 1 to 1e6),
// every member carries the group's swing with 2% noise, and one member in
// ten groups falls to 40% of its level over the last 10 steps. The rule
// takes the default scale (auto, which picks member here).
func buildUnequalStore(b *testing.B, groups, members int) (*Store, time.Time, float64, uint64) {
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
	r := rand.New(rand.NewPCG(3, 4))
	for g := range groups {
		level := math.Pow(10, 6*r.Float64())
		for m := range members {
			names = append(names, fmt.Sprintf(`peer_bench{group="g%05d",member="m%03d"}`, g, m))
			levels[g*members+m] = level * math.Pow(10, r.Float64())
		}
	}
	const batch = 10_000
	buf := make([]anomaly.Sample, 0, batch)
	began := time.Now()
	samples := 0
	for k := range 30 {
		ts := stepTime(k).Add(10 * time.Second).UnixMilli()
		swing := 1 + 0.2*math.Sin(2*math.Pi*float64(k)/30)
		for i, name := range names {
			v := levels[i] * (swing + 0.02*r.NormFloat64())
			if k >= 20 && i%(10*members) == 0 {
				v *= 0.4
			}
			buf = append(buf, anomaly.Sample{Series: name, TimestampMs: ts, Value: v})
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

// BenchmarkEvaluateUnequal is one full evaluation of groups of unequal
// members (buildUnequalStore) and, for comparison, of equal ones
// (buildBenchStore): 100,000 series (1,000 groups of 100) by default,
// 1,000,000 (10,000 groups) with -peers.big. Besides what BenchmarkEvaluate
// reports it gives the CPU time of an evaluation, the planted outliers
// found (m000 of every tenth group) and the groups judged on the member
// scale.
func BenchmarkEvaluateUnequal(b *testing.B) {
	sizes := []int{1_000}
	if *benchBig {
		sizes = append(sizes, 10_000)
	}
	for _, groups := range sizes {
		for _, members := range []string{"equal", "unequal"} {
			b.Run(fmt.Sprintf("members=%s/series=%d", members, groups*100), func(b *testing.B) {
				build := buildUnequalStore
				if members == "equal" {
					build = buildBenchStore
				}
				benchEvaluate(b, build, groups)
			})
		}
	}
}

func benchEvaluate(b *testing.B, build func(*testing.B, int, int) (*Store, time.Time, float64, uint64), groups int) {
	s, now, rate, heap := build(b, groups, 100)
	var flagged []GroupResult
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		var err error
		if flagged, err = s.Evaluate(context.Background(), now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	outliers, planted := 0, 0
	for _, g := range flagged {
		outliers += g.Outliers
		for _, m := range g.Members {
			if m.Outlier && m.Member == "m000" {
				planted++
			}
		}
	}
	all, _ := s.Results("bench", "")
	onMember := 0
	for _, g := range all {
		if g.Scale == ScaleMember {
			onMember++
		}
	}
	b.ReportMetric(float64(heap)/(1<<20), "heap-MB")
	b.ReportMetric(float64(heap)/float64(groups*100), "bytes/series")
	b.ReportMetric(rate, "ingest-samples/s")
	b.ReportMetric(float64(outliers), "outliers")
	b.ReportMetric(float64(planted), "planted-found")
	b.ReportMetric(float64(onMember), "groups-on-member-scale")
}

// cpuTime is the process's user and system CPU time: on a shared machine
// it says more about the cost of an evaluation than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
