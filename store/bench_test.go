package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// BenchmarkRecord measures Record with the writer running at its defaults
// (writes every 100 ms or 1024 pending anomalies, fsync each): the cost a
// shard goroutine pays per event. The writer's own work runs on another
// goroutine and shows only as CPU competition.
func BenchmarkRecord(b *testing.B) {
	series := make([]string, 1000)
	for i := range series {
		series[i] = `requests{app="api",instance="i-` + strconv.Itoa(i) + `"}`
	}
	b.Run("open-update-resolve", func(b *testing.B) {
		s := openStore(b, b.TempDir(), Options{FlushInterval: DefaultFlushInterval, MaxAnomalies: -1})
		var evs [3]anomaly.Event
		b.ReportAllocs()
		n := 0
		for i := 0; b.Loop(); i++ {
			id := anomaly.ID(i + 1)
			sr := series[i%len(series)]
			evs[0] = event(anomaly.EventOpened, id, sr, at(i), 0.9, 1)
			evs[1] = event(anomaly.EventUpdated, id, sr, at(i).Add(time.Second), 0.95, 2)
			evs[2] = event(anomaly.EventResolved, id, sr, at(i+1), 0.1, 1)
			for j := range evs {
				s.Record(evs[j])
			}
			n += 3
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		b.ReportMetric(float64(s.stats.dropped.Load()), "dropped")
	})
	// Updates of open anomalies: the common event while an incident lasts.
	b.Run("update-open", func(b *testing.B) {
		s := openStore(b, b.TempDir(), Options{FlushInterval: DefaultFlushInterval})
		for i := range series {
			s.Record(event(anomaly.EventOpened, anomaly.ID(i+1), series[i], at(0), 0.9, 1))
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			j := i % len(series)
			s.Record(event(anomaly.EventUpdated, anomaly.ID(j+1), series[j], at(i), float64(i%100)/100, 2))
		}
	})
	b.Run("update-open-parallel", func(b *testing.B) {
		s := openStore(b, b.TempDir(), Options{FlushInterval: DefaultFlushInterval})
		for i := range series {
			s.Record(event(anomaly.EventOpened, anomaly.ID(i+1), series[i], at(0), 0.9, 1))
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				j := i % len(series)
				s.Record(event(anomaly.EventUpdated, anomaly.ID(j+1), series[j], at(i), float64(i%100)/100, 2))
				i++
			}
		})
	})
}

// benchStore builds a store of n anomalies over 1000 series, one starting
// per minute, every openEvery-th still open, and returns it.
func benchStore(b *testing.B, n, openEvery int) *Store {
	b.Helper()
	dir, err := os.MkdirTemp("", "timeline-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, FileName)
	s, err := Open(path, Options{FlushInterval: time.Hour, RetentionInterval: time.Hour, MaxAnomalies: -1,
		MaxPending: n + 1, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		id := anomaly.ID(i + 1)
		sr := fmt.Sprintf(`requests{app="api",instance="i-%d"}`, i%1000)
		s.Record(event(anomaly.EventOpened, id, sr, at(i), 0.9, 1))
		s.Record(event(anomaly.EventUpdated, id, sr, at(i).Add(time.Second), 0.95, 2))
		if i%openEvery != 0 {
			s.Record(event(anomaly.EventResolved, id, sr, at(i).Add(5*time.Minute), 0.1, 1))
		}
	}
	if err := s.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkQuery measures one page of the timeline over n stored
// anomalies of which n/openEvery are open (held in memory).
func BenchmarkQuery(b *testing.B) {
	for _, size := range []struct{ n, openEvery int }{{10_000, 1000}, {100_000, 1000}, {100_000, 20}} {
		n := size.n
		s := benchStore(b, n, size.openEvery)
		last := at(n - 1)
		mid, err := s.Query(context.Background(), anomaly.TimelineQuery{Until: at(n / 2), Limit: 1})
		if err != nil {
			b.Fatal(err)
		}
		cases := []struct {
			name string
			q    anomaly.TimelineQuery
		}{
			{"newest", anomaly.TimelineQuery{}},
			{"page-in-the-middle", anomaly.TimelineQuery{Cursor: mid.NextCursor}},
			{"series", anomaly.TimelineQuery{Series: `requests{app="api",instance="i-7"}`}},
			{"open", anomaly.TimelineQuery{State: "open"}},
			{"last-day", anomaly.TimelineQuery{Since: last.Add(-24 * time.Hour), Until: last}},
			// Nothing ended since: every index entry is read (worst case).
			{"since-no-match", anomaly.TimelineQuery{Since: last.Add(time.Hour), State: "resolved"}},
		}
		for _, c := range cases {
			b.Run(fmt.Sprintf("n=%d/open=%d/%s", n, n/size.openEvery, c.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := s.Query(context.Background(), c.q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("n=%d/open=%d/get", n, n/size.openEvery), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if _, err := s.Get(context.Background(), anomaly.ID(i%n+1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWrite measures the writer: anomalies (opened and resolved)
// written and synced per second, per batch size, with nothing dropped.
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b, b.TempDir(), Options{FlushInterval: DefaultFlushInterval, FlushAnomalies: batch,
				MaxPending: 1 << 30, MaxAnomalies: -1})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				id := anomaly.ID(i + 1)
				sr := `requests{app="api",instance="i-` + strconv.Itoa(i%1000) + `"}`
				s.Record(event(anomaly.EventOpened, id, sr, at(i), 0.9, 1))
				s.Record(event(anomaly.EventResolved, id, sr, at(i+1), 0.1, 1))
			}
			if err := s.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "anomalies/s")
			b.ReportMetric(float64(s.stats.batches.Load()), "batches")
		})
	}
}
