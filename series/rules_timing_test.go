package series

import (
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// BenchmarkRules: the shard path on 10,000 series with no rule, a static
// bound matching every series, a ratio rule and a time zone (the rule
// matched once per series, then cached in its slot).
func BenchmarkRules(b *testing.B) {
	cases := []struct {
		name  string
		rules []anomaly.BoundRule
	}{
		{"none", nil},
		{"static", []anomaly.BoundRule{{Match: `bench_requests`, Max: fp(1e9)}}},
		{"limit", []anomaly.BoundRule{{Match: `bench_requests`, Limit: `bench_limit`, On: []string{"region"}}}},
		{"timezone", []anomaly.BoundRule{{Match: `bench_requests`, Timezone: "America/New_York"}}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			e := newEngine(b, Options{Shards: 1, MaxSeries: -1})
			if err := e.SetRules(tc.rules); err != nil {
				b.Fatal(err)
			}
			sh := e.shards[0]
			items := make([]item, 256)
			keys := make([]string, 10_000)
			for i := range keys {
				keys[i] = benchKey(i)
			}
			req := &request{done: make(chan struct{}, 1)}
			sub := &subBatch{req: req, items: items, outs: make([]outcome, len(items))}
			ts := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixMilli()
			b.ReportAllocs()
			b.ResetTimer()
			for n := range b.N {
				b.StopTimer()
				ts += 60000
				for j := range items {
					k := keys[(n*len(items)+j)%len(keys)]
					items[j] = item{hash: HashString(k), key: k, ts: ts, v: 100 + float64(j%7)}
				}
				req.pending.Store(1)
				b.StartTimer()
				sh.apply(sub)
				<-req.done
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/point")
		})
	}
}
