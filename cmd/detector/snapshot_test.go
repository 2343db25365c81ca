package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/service"
	"github.com/anomalyd/detector/snapshot"
)

// snapMain builds a Main on dataDir (not started); its log goes to logw.
func snapMain(t testing.TB, dataDir string, logw io.Writer) *Main {
	t.Helper()
	m, err := NewMain(Config{Listen: "127.0.0.1:0", Shards: 2, Persist: PersistConfig{DataDir: dataDir}, SnapshotInterval: time.Hour},
		slog.New(slog.NewTextHandler(logw, nil)))
	if err != nil {
		t.Fatalf("NewMain: %v", err)
	}
	return m
}

// feed ingests points [from, to) of the canonical scenario into n series.
func feed(t testing.TB, m *Main, n, from, to int) {
	t.Helper()
	var samples []anomaly.Sample
	for i := range n {
		sc := synth.NewScenario(uint64(i + 1))
		name := fmt.Sprintf(`requests{app="api",instance="i-%d"}`, i)
		for j := from; j < to; j++ {
			samples = append(samples, anomaly.Sample{Series: name, TimestampMs: sc.Ts[j], Value: sc.Values[j]})
		}
	}
	res, err := m.engine.Ingest(context.Background(), samples)
	if err != nil || res.Accepted != len(samples) {
		t.Fatalf("Ingest: %+v, %v", res, err)
	}
}

// details returns the engine's view of the n series.
func details(t testing.TB, m *Main, n int) []anomaly.SeriesDetail {
	t.Helper()
	out := make([]anomaly.SeriesDetail, n)
	for i := range n {
		d, err := m.engine.Get(context.Background(), fmt.Sprintf(`requests{app="api",instance="i-%d"}`, i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// TestRestoreFallsBackToOlderGeneration writes two generations, damages
// the newer one in several ways and checks that the service starts from
// the older one, says why, and sets the damaged file aside.
func TestRestoreFallsBackToOlderGeneration(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func(b []byte) []byte
		why  string
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0x10; return b }, "checksum mismatch"},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }, "truncated"},
		{"empty", func(b []byte) []byte { return nil }, "truncated"},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := t.TempDir()
			m := snapMain(t, dir, io.Discard)
			feed(t, m, 4, 0, 1500)
			want := details(t, m, 4)
			if err := m.Close(); err != nil { // the final snapshot: generation 1
				t.Fatal(err)
			}
			m = snapMain(t, dir, io.Discard)
			if got := details(t, m, 4); !reflect.DeepEqual(got, want) {
				t.Fatalf("restored from the intact newest generation: %+v, want %+v", got[0].SeriesSummary, want[0].SeriesSummary)
			}
			feed(t, m, 4, 1500, 2000)
			if err := m.Close(); err != nil { // generation 2
				t.Fatal(err)
			}

			store, _ := snapshot.OpenStore(filepath.Join(dir, snapshotDir), 0)
			gens, _ := store.Generations()
			if len(gens) != 2 {
				t.Fatalf("generations = %+v, want 2", gens)
			}
			b, _ := os.ReadFile(gens[0].Path)
			if err := os.WriteFile(gens[0].Path, damage.do(b), 0o644); err != nil {
				t.Fatal(err)
			}

			var log bytes.Buffer
			m = snapMain(t, dir, &log)
			defer m.Close()
			if got := details(t, m, 4); !reflect.DeepEqual(got, want) {
				t.Errorf("restored after damage: %+v, want the older generation's %+v", got[0].SeriesSummary, want[0].SeriesSummary)
			}
			if !strings.Contains(log.String(), "level=WARN msg=\"snapshot unusable") || !strings.Contains(log.String(), damage.why) {
				t.Errorf("log does not report the damaged snapshot with %q:\n%s", damage.why, log.String())
			}
			if _, err := os.Stat(gens[0].Path + snapshot.CorruptSuffix); err != nil {
				t.Errorf("damaged generation not set aside: %v", err)
			}
		})
	}
}

// TestRestoreWithoutUsableSnapshot: all generations damaged means an empty
// start, with a warning, not a failure.
func TestRestoreWithoutUsableSnapshot(t *testing.T) {
	dir := t.TempDir()
	sdir := filepath.Join(dir, snapshotDir)
	os.MkdirAll(sdir, 0o755)
	os.WriteFile(filepath.Join(sdir, "snapshot-00000000000000000007.snap"), []byte("ANOMSNAPgarbage"), 0o644)
	var log bytes.Buffer
	m := snapMain(t, dir, &log)
	defer m.Close()
	if n := m.engine.Stats().Series; n != 0 {
		t.Errorf("series after a failed restore = %d, want 0", n)
	}
	if !strings.Contains(log.String(), "no usable snapshot") {
		t.Errorf("log does not say no snapshot was usable:\n%s", log.String())
	}
}

// BenchmarkSnapshot writes a snapshot of n series to disk and restores it
// into a fresh service; it reports the file size, the longest shard lock
// hold while writing and the restore rate.
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{1e5, 1e6} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			dir := b.TempDir()
			m := snapMain(b, dir, io.Discard)
			defer m.Close()
			batch := make([]anomaly.Sample, 0, 10000)
			for round := range 3 {
				for i := range n {
					batch = append(batch, anomaly.Sample{Series: fmt.Sprintf(`bench{host="h%07d"}`, i), TimestampMs: int64(round) * 60000, Value: float64(i % 13)})
					if len(batch) == cap(batch) || i == n-1 {
						if _, err := m.engine.Ingest(context.Background(), batch); err != nil {
							b.Fatal(err)
						}
						batch = batch[:0]
					}
				}
			}
			var res service.SnapshotResult
			var restore time.Duration
			for b.Loop() {
				var err error
				if res, err = m.svc.Snapshots().Write(context.Background(), false); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// Restore from a copy: the running service keeps its data
				// directory (and whatever it locks there).
				dir2 := b.TempDir()
				os.MkdirAll(filepath.Join(dir2, snapshotDir), 0o755)
				data, err := os.ReadFile(res.Gen.Path)
				if err != nil {
					b.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir2, snapshotDir, filepath.Base(res.Gen.Path)), data, 0o644)
				data = nil
				start := time.Now()
				r := snapMain(b, dir2, io.Discard)
				restore = time.Since(start)
				if got, want := r.engine.Stats().Series, m.engine.Stats().Series; got != want {
					b.Fatalf("restored %d series, want %d", got, want)
				}
				r.svc.Snapshots().Off() // no final snapshot of the copy
				r.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(res.Gen.Size)/1e6, "MB")
			b.ReportMetric(float64(res.MaxPause.Microseconds()), "max-pause-µs")
			b.ReportMetric(float64(n)/restore.Seconds(), "restored-series/s")
		})
	}
}

// TestSnapshotFailureIsCounted: a snapshot that cannot be written is
// counted and logged, leaves the previous generation the newest, and the
// next attempt succeeds once the cause is gone.
func TestSnapshotFailureIsCounted(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	m := snapMain(t, dir, &log)
	defer m.Close()
	feed(t, m, 2, 0, 100)
	first, err := m.svc.Snapshots().Write(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, snapshotDir)
	// Replace the directory by a file: creating the temporary file fails.
	os.Rename(sdir, sdir+".moved")
	os.WriteFile(sdir, nil, 0o644)
	if _, err := m.svc.Snapshots().Write(context.Background(), false); err == nil {
		t.Fatal("write into a missing directory = nil, want an error")
	}
	if got := gathered(t, m, "detector_snapshot_failures_total"); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
	if !strings.Contains(log.String(), "snapshot failed") {
		t.Errorf("failure not logged:\n%s", log.String())
	}
	os.Remove(sdir)
	os.Rename(sdir+".moved", sdir)
	second, err := m.svc.Snapshots().Write(context.Background(), false)
	if err != nil || second.Gen.Seq != first.Gen.Seq+1 || second.Series != 2 {
		t.Fatalf("write after recovery = %+v, %v; want generation %d with 2 series", second, err, first.Gen.Seq+1)
	}
	if got := gathered(t, m, "detector_snapshot_series"); got != 2 {
		t.Errorf("detector_snapshot_series = %v, want 2", got)
	}
}

// gathered returns the value of the unlabelled counter or gauge name on m's
// registry.
func gathered(t *testing.T, m *Main, name string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) != 1 {
			continue
		}
		mt := mf.GetMetric()[0]
		if c := mt.GetCounter(); c != nil {
			return c.GetValue()
		}
		return mt.GetGauge().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
