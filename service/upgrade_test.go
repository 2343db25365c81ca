package service

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
	"github.com/anomalyd/detector/snapshot"
)

var update = flag.Bool("update", false, "rewrite the snapshot fixture of today's encoding under testdata")

// fixtureSeries is what the fixtures hold: a daily cycle, a flat series
// and a noisy one, 3 days of 5-minute points each.
func fixtureSamples() []anomaly.Sample {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var out []anomaly.Sample
	for i := range 3 * 288 {
		ts := start + int64(i)*300_000
		day := float64(i%288) / 288
		out = append(out,
			anomaly.Sample{Series: `requests{app="api",instance="i-1"}`, TimestampMs: ts, Value: 100 + 40*day*(1-day)*4 + float64(i%3)},
			anomaly.Sample{Series: `flat{host="a"}`, TimestampMs: ts, Value: 7},
			anomaly.Sample{Series: `noisy{host="b"}`, TimestampMs: ts, Value: 50 + float64((i*37)%11)},
		)
	}
	return out
}

// baseline is what must survive an upgrade: what the series has seen and
// its learned level and scale.
type baseline struct {
	Series        string    `json:"series"`
	Points        uint64    `json:"points"`
	LastTimestamp time.Time `json:"last_timestamp"`
	LastValue     float64   `json:"last_value"`
	Level         float64   `json:"level"`
	Scale         float64   `json:"scale"`
	PeriodSeconds int64     `json:"period_seconds"`
}

func baselines(t *testing.T, s *Service) map[string]baseline {
	t.Helper()
	out := map[string]baseline{}
	for _, smp := range fixtureSamples()[:3] {
		d, err := s.Engine().Get(context.Background(), smp.Series)
		if err != nil {
			t.Fatalf("Get(%s): %v", smp.Series, err)
		}
		out[d.Series] = baseline{d.Series, d.Points, d.LastTimestamp, d.LastValue, d.Baseline.Level, d.Baseline.Scale, d.Baseline.PeriodSeconds}
	}
	return out
}

const fixtureDir = "testdata/snapshots"

// writeFixtures writes, in testdata/snapshots/v<N> for today's model
// encoding N, a snapshot of the fixture series and the baselines it must
// restore to; the first time (N = 4) also the same series in the previous
// layout (v3, which lacked the range-novelty block). Older fixtures are
// kept: each release must restore all of them.
func writeFixtures(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Writer().Ingest(context.Background(), fixtureSamples()); err != nil || res.Rejected != 0 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	res, err := s.Snapshots().Write(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	want := baselines(t, s)
	s.Snapshots().Off()
	s.Close(context.Background())

	today := filepath.Join(fixtureDir, fmt.Sprintf("v%d", models.EncodingVersion))
	os.RemoveAll(today)
	os.MkdirAll(today, 0o755)
	data, err := os.ReadFile(res.Gen.Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(today, filepath.Base(res.Gen.Path)), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(want, "", "  ")
	if err := os.WriteFile(filepath.Join(today, "baselines.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fixtureDir, "v3")); models.EncodingVersion == 4 && err != nil {
		writeV3(t, filepath.Join(today, filepath.Base(res.Gen.Path)))
		os.WriteFile(filepath.Join(fixtureDir, "v3", "baselines.json"), append(b, '\n'), 0o644)
	}
}

// TestSnapshotUpgrade restores every committed snapshot fixture (today's
// encoding and each older one) into a fresh service: every series comes
// back with what it had learned. Run with -update to add the fixture of
// today's encoding after changing it (keep the older ones).
func TestSnapshotUpgrade(t *testing.T) {
	if *update {
		writeFixtures(t)
	}
	versions, _ := filepath.Glob(filepath.Join(fixtureDir, "v*"))
	if len(versions) < 2 {
		t.Fatalf("fixtures %v: want today's encoding and the previous one", versions)
	}
	for _, vdir := range versions {
		t.Run(filepath.Base(vdir), func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(vdir, "baselines.json"))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]baseline
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(vdir, "*.snap"))
			if len(files) != 1 {
				t.Fatalf("%s holds %v, want one snapshot", vdir, files)
			}
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, SnapshotDir), 0o755)
			data, _ := os.ReadFile(files[0])
			os.WriteFile(filepath.Join(dir, SnapshotDir, filepath.Base(files[0])), data, 0o644)
			s, err := Open(Config{DataDir: dir})
			if err != nil {
				t.Fatalf("Open with the %s snapshot: %v", vdir, err)
			}
			defer s.Close(context.Background())
			if n := s.Engine().Stats().Series; n != len(want) {
				t.Fatalf("restored %d series, want %d", n, len(want))
			}
			got := baselines(t, s)
			for k, w := range want {
				if g := got[k]; g != w {
					t.Errorf("%s restored as %+v, want %+v", k, g, w)
				}
			}
			// The restored series keep learning: the next point is
			// accepted and judged against the baseline.
			next := anomaly.Sample{Series: `flat{host="a"}`, TimestampMs: want[`flat{host="a"}`].LastTimestamp.UnixMilli() + 300_000, Value: 7}
			if res, err := s.Writer().Ingest(context.Background(), []anomaly.Sample{next}); err != nil || res.Accepted != 1 {
				t.Errorf("next point after restore = %+v, %v", res, err)
			}
		})
	}
}

// TestSnapshotFromNewerRelease: a snapshot of a newer model encoding is
// refused with a message saying so, not set aside as damaged; the
// service does not start (starting empty would throw the baselines away).
func TestSnapshotFromNewerRelease(t *testing.T) {
	dir := t.TempDir()
	st, err := snapshot.OpenStore(filepath.Join(dir, SnapshotDir), 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Create(snapshot.Header{ModelVersion: models.EncodingVersion + 1, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var m models.Model
	enc := m.AppendBinary(nil)
	enc[0] = models.EncodingVersion + 1
	if err := w.Add(&snapshot.Record{Key: []byte("cpu"), Model: enc}); err != nil {
		t.Fatal(err)
	}
	g, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(Config{DataDir: dir})
	if err == nil {
		t.Fatal("Open with a newer release's snapshot = nil error, want a refusal")
	}
	if msg := err.Error(); !strings.Contains(msg, "newer release") || !strings.Contains(msg, g.Path) {
		t.Errorf("Open error = %q, want it to name the file and say a newer release wrote it", msg)
	}
	if _, err := os.Stat(g.Path); err != nil {
		t.Errorf("the newer snapshot was moved: %v", err)
	}
}

// writeV3 writes, from today's fixture, the same series in the layout of
// model encoding 3: version 4 with the range-novelty block (the last
// novelty.EncodedLen bytes) removed.
func writeV3(t *testing.T, from string) {
	rd, err := snapshot.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	dir := filepath.Join(fixtureDir, "v3")
	os.MkdirAll(dir, 0o755)
	st, err := snapshot.OpenStore(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := rd.Header()
	w, err := st.Create(snapshot.Header{ModelVersion: 3, Created: h.Created})
	if err != nil {
		t.Fatal(err)
	}
	if err := snapshot.ReadAll(rd, func(r *snapshot.Record) error {
		c := *r
		c.Model = append([]byte{3}, r.Model[1:len(r.Model)-novelty.EncodedLen]...)
		return w.Add(&c)
	}); err != nil {
		t.Fatal(err)
	}
	w.SetLastAnomalyID(h.LastAnomalyID)
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}
