package series

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// exported is a SeriesState with the model as its encoding, comparable.
type exported struct {
	LastTs, LastUpdate int64
	AnomalyID, LastID  anomaly.ID
	NeedPoints         int32
	Model              string
}

func exportAll(t testing.TB, e *Engine, chunk int) (map[string]exported, ExportStats) {
	t.Helper()
	out := map[string]exported{}
	st, err := e.Export(context.Background(), chunk, func(ss []SeriesState) error {
		for _, s := range ss {
			if _, dup := out[s.Key]; dup {
				t.Errorf("Export passed %s twice", s.Key)
			}
			out[s.Key] = exported{s.LastTs, s.LastUpdate, s.AnomalyID, s.LastID, s.NeedPoints, string(s.Model.AppendBinary(nil))}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return out, st
}

// scenarioEngine ingests the canonical scenario (with anomalies) into a
// few series, plus one series with a single point, and returns the
// engine and the series names.
func scenarioEngine(t *testing.T, shards int) (*Engine, []string) {
	t.Helper()
	e := newEngine(t, Options{Shards: shards, Now: newClock().Now})
	var names []string
	for i := range 5 {
		name := fmt.Sprintf(`requests{app="api",instance="i-%d"}`, i)
		names = append(names, name)
		sc := synth.NewScenario(uint64(i + 1))
		// Stop at different points so that some series have an open
		// anomaly at export time.
		n := sc.Spike + 1 + i
		samples := make([]anomaly.Sample, n)
		for j := range n {
			samples[j] = anomaly.Sample{Series: name, TimestampMs: sc.Ts[j], Value: sc.Values[j]}
		}
		mustIngest(t, e, samples)
	}
	mustIngest(t, e, []anomaly.Sample{{Series: "fresh", TimestampMs: synth.DefaultStart, Value: 1}})
	return e, append(names, "fresh")
}

func TestExportImportRoundTrip(t *testing.T) {
	src, names := scenarioEngine(t, 2)
	want, st := exportAll(t, src, 2)
	if st.Series != len(names) || len(want) != len(names) {
		t.Fatalf("Export passed %d series (stats %d), want %d", len(want), st.Series, len(names))
	}
	open := 0
	for _, x := range want {
		if x.AnomalyID != 0 {
			open++
		}
	}
	if open == 0 {
		t.Fatal("no series has an open anomaly: the test does not cover the bookkeeping")
	}

	// Restore into an engine with another shard count, through the
	// models' binary encoding, as a snapshot does.
	dst := newEngine(t, Options{Shards: 3})
	var states []SeriesState
	src.Export(context.Background(), 0, func(ss []SeriesState) error {
		for _, s := range ss {
			var c SeriesState = s
			if err := c.Model.UnmarshalBinary(s.Model.AppendBinary(nil)); err != nil {
				t.Fatal(err)
			}
			states = append(states, c)
		}
		return nil
	})
	ist, err := dst.Import(states)
	if err != nil || ist != (ImportStats{Added: len(names)}) {
		t.Fatalf("Import = %+v, %v; want %d added", ist, err, len(names))
	}
	got, _ := exportAll(t, dst, 0)
	if !reflect.DeepEqual(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("series %s after import: %+v, want %+v", k, got[k], want[k])
			}
		}
		t.Fatalf("imported %d series, want %d", len(got), len(want))
	}
	ctx := context.Background()
	for _, n := range names {
		a, errA := src.Get(ctx, n)
		b, errB := dst.Get(ctx, n)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("Get(%s) after import = %+v, %v; want %+v, %v", n, b, errB, a, errA)
		}
	}
	var maxID anomaly.ID
	for _, x := range got {
		maxID = max(maxID, x.AnomalyID, x.LastID)
	}
	if dst.LastAnomalyID() != maxID {
		t.Errorf("LastAnomalyID after import = %d, want the highest imported id %d", dst.LastAnomalyID(), maxID)
	}
	if id := dst.NextAnomalyID(); id != maxID+1 {
		t.Errorf("NextAnomalyID() after import = %d, want %d", id, maxID+1)
	}
	dst.ReserveAnomalyIDs(src.LastAnomalyID())
	if id := dst.NextAnomalyID(); id != src.LastAnomalyID()+1 {
		t.Errorf("NextAnomalyID() after ReserveAnomalyIDs(%d) = %d", src.LastAnomalyID(), id)
	}

	// The restored series keep learning exactly as the originals do.
	next := anomaly.Sample{Series: names[0], TimestampMs: synth.DefaultStart + 1e9, Value: 101}
	rs, rd := mustIngest(t, src, []anomaly.Sample{next}), mustIngest(t, dst, []anomaly.Sample{next})
	if rs.Accepted != 1 || rd.Accepted != 1 {
		t.Fatalf("ingest after import: %+v / %+v", rs, rd)
	}
	a, _ := src.Get(ctx, names[0])
	b, _ := dst.Get(ctx, names[0])
	if a.Points != b.Points || a.Baseline.Expected != b.Baseline.Expected {
		t.Errorf("after one more point: points %d expected %v, original %d %v", b.Points, b.Baseline.Expected, a.Points, a.Baseline.Expected)
	}
}

func TestImportReplacesAndDrops(t *testing.T) {
	src, names := scenarioEngine(t, 1)
	var states []SeriesState
	src.Export(context.Background(), 0, func(ss []SeriesState) error {
		states = append(states, ss...)
		return nil
	})
	// Capacity 3 on one shard: 3 fit, the rest are dropped (never evicted).
	dst := newEngine(t, Options{Shards: 1, MaxSeries: 3})
	bad := SeriesState{Key: `b{z="1",a="2"}`} // labels not in canonical order
	st, err := dst.Import(append(states, bad))
	if err != nil || st != (ImportStats{Added: 3, Dropped: len(names) - 3 + 1}) {
		t.Fatalf("Import into capacity 3 = %+v, %v; want 3 added, %d dropped", st, err, len(names)-2)
	}
	if n := dst.Stats().Series; n != 3 {
		t.Errorf("live series = %d, want 3", n)
	}
	// Importing again replaces.
	if st, err := dst.Import(states[:3]); err != nil || st != (ImportStats{Replaced: 3}) {
		t.Errorf("second Import = %+v, %v; want 3 replaced", st, err)
	}
	dst.Close(context.Background())
	if _, err := dst.Import(states); anomaly.ErrorCode(err) != anomaly.CodeUnavailable {
		t.Errorf("Import after Close = %v, want CodeUnavailable", err)
	}
	// Export still works after Close.
	if got, _ := exportAll(t, dst, 0); len(got) != 3 {
		t.Errorf("Export after Close: %d series, want 3", len(got))
	}
}

// TestExportDuringIngest exports in small chunks while points arrive: no
// series is lost or doubled (nothing is evicted), and each exported model
// is one the series really had (its points count within the range seen).
func TestExportDuringIngest(t *testing.T) {
	e := newEngine(t, Options{Shards: 2})
	const n = 300
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(`m{i="%d"}`, i)
	}
	batch := func(round int) []anomaly.Sample {
		s := make([]anomaly.Sample, n)
		for i, k := range keys {
			s[i] = anomaly.Sample{Series: k, TimestampMs: int64(round) * 1000, Value: float64(i + round%3)}
		}
		return s
	}
	mustIngest(t, e, batch(0))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := 1; ; r++ {
			select {
			case <-stop:
				return
			default:
			}
			mustIngest(t, e, batch(r))
		}
	}()
	for range 20 {
		got, st := exportAll(t, e, 7)
		if len(got) != n {
			t.Errorf("Export during ingest: %d series, want %d", len(got), n)
		}
		if st.MaxPause <= 0 || st.Chunks < n/7 {
			t.Errorf("stats %+v: want a measured pause and at least %d chunks", st, n/7)
		}
	}
	close(stop)
	wg.Wait()
}

func TestExportStopsOnError(t *testing.T) {
	e, _ := scenarioEngine(t, 2)
	boom := errors.New("disk full")
	calls := 0
	_, err := e.Export(context.Background(), 1, func([]SeriesState) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("Export with failing fn = %v after %d calls, want %v after 1", err, calls, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Export(ctx, 0, func([]SeriesState) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Export(cancelled) = %v, want context.Canceled", err)
	}
}

// BenchmarkExport measures a full export with the model encoding a
// snapshot does (no disk), and reports the longest shard lock hold.
func BenchmarkExport(b *testing.B) {
	for _, n := range []int{1e5, 1e6} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f := fixture(b, n)
			b.ReportAllocs()
			var maxPause time.Duration
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				var enc []byte
				st, err := f.e.Export(context.Background(), 0, func(ss []SeriesState) error {
					for i := range ss {
						enc = ss[i].Model.AppendBinary(enc[:0])
						buf.Write(enc)
					}
					return nil
				})
				if err != nil || st.Series != n {
					b.Fatalf("Export: %d series, %v", st.Series, err)
				}
				maxPause = max(maxPause, st.MaxPause)
			}
			b.SetBytes(int64(buf.Len()))
			b.ReportMetric(float64(maxPause.Microseconds()), "max-pause-µs")
		})
	}
}

// BenchmarkIngestDuringExport measures what a snapshot costs ingest: the
// latency of 1000-point batches into 1e5 series, alone and while Export
// runs in a loop (the snapshot's engine side). Reported: p50, p99 and max
// batch latency.
func BenchmarkIngestDuringExport(b *testing.B) {
	for _, exporting := range []bool{false, true} {
		b.Run(fmt.Sprintf("export=%v", exporting), func(b *testing.B) {
			f := fixture(b, 100_000)
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var worst time.Duration
			if exporting {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var enc []byte
					for {
						select {
						case <-stop:
							return
						default:
						}
						st, _ := f.e.Export(ctx, 0, func(ss []SeriesState) error {
							for i := range ss {
								enc = ss[i].Model.AppendBinary(enc[:0])
							}
							return nil
						})
						worst = max(worst, st.MaxPause)
					}
				}()
			}
			r := rand.New(rand.NewPCG(7, 7))
			batch := make([]anomaly.Sample, 1000)
			var lat []time.Duration
			for b.Loop() {
				ts := f.tick.Add(60000)
				for i := range batch {
					k := r.IntN(len(f.keys))
					batch[i] = anomaly.Sample{Series: f.keys[k], TimestampMs: ts, Value: 100 + float64(k%13)}
				}
				t0 := time.Now()
				if _, err := f.e.Ingest(ctx, batch); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
			b.ReportMetric(q(0.5), "p50-µs")
			b.ReportMetric(q(0.99), "p99-µs")
			b.ReportMetric(q(1), "max-µs")
			if exporting {
				b.ReportMetric(float64(worst.Microseconds()), "max-lock-µs")
			}
		})
	}
}

// TestExportGarbage: an export allocates the copies of the keys and a
// constant more, not an encoding buffer per series (a snapshot of a
// million series made a gigabyte of garbage that way, and reads slowed
// while the collector ran every few milliseconds).
func TestExportGarbage(t *testing.T) {
	const n = 2000
	e := newEngine(t, Options{Shards: 2})
	samples := make([]anomaly.Sample, 0, 4*n)
	for r := range 4 {
		for i := range n {
			samples = append(samples, anomaly.Sample{Series: "m{i=\"" + strconv.Itoa(i) + "\"}", TimestampMs: synth.DefaultStart + int64(r)*60_000, Value: float64(i%5 + r)})
		}
	}
	mustIngest(t, e, samples)
	seen := 0
	allocs := testing.AllocsPerRun(3, func() {
		seen = 0
		if _, err := e.Export(context.Background(), 0, func(ss []SeriesState) error { seen += len(ss); return nil }); err != nil {
			t.Fatal(err)
		}
	})
	if seen != n {
		t.Fatalf("Export passed %d series, want %d", seen, n)
	}
	if limit := float64(n) + 64; allocs > limit {
		t.Errorf("Export of %d series allocates %v times, want at most %v (one key copy per series)", n, allocs, limit)
	}
}
