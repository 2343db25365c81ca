package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/ingest"
	"github.com/anomalyd/detector/series"
)

// TestBodies decodes a patched body of each format with the service's own
// decoders and checks that every point names series i, in its canonical
// form, with the round's timestamp and value.
func TestBodies(t *testing.T) {
	const lo, hi, r = 37, 137, 5
	ts := int64(1_767_614_400)
	for _, f := range formats {
		enc, err := newEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		b := enc.build(lo, hi)
		enc.patch(b, ts-60, r-1) // patching twice leaves the last round's values
		enc.patch(b, ts, r)
		var got []anomaly.Sample
		switch f {
		case formatJSON:
			var body struct {
				Points []struct {
					Series    string  `json:"series"`
					Timestamp int64   `json:"timestamp"`
					Value     float64 `json:"value"`
				} `json:"points"`
			}
			if err := json.Unmarshal(b.raw, &body); err != nil {
				t.Fatalf("json body does not decode: %v\n%.300s", err, b.raw)
			}
			for _, p := range body.Points {
				got = append(got, anomaly.Sample{Series: p.Series, TimestampMs: p.Timestamp * 1000, Value: p.Value})
			}
		case formatLine:
			var errs []ingest.LineError
			got, _, errs = ingest.DecodeLines(nil, b.raw, ingest.LineOptions{Precision: lineprotocol.Second, Now: time.Unix(ts, 0)})
			if len(errs) > 0 {
				t.Fatalf("line body: %v", errs)
			}
		case formatRemoteWrite:
			if got, _, err = ingest.DecodeRemoteWrite(nil, b.wire, ingest.RemoteWriteV1, ingest.Limits{}); err != nil {
				t.Fatalf("remote-write body: %v", err)
			}
		}
		if len(got) != hi-lo {
			t.Fatalf("%s: %d samples, want %d", f, len(got), hi-lo)
		}
		for j, s := range got {
			i := lo + j
			want, err := series.Parse(seriesKey(i), series.DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			k, err := series.Parse(s.Series, series.DefaultLimits())
			if err != nil || k.Canonical() != want.Canonical() {
				t.Errorf("%s: point %d names %q (%v), want %s", f, j, s.Series, err, want)
			}
			if v := float64(value10(i, r)) / 10; s.TimestampMs != ts*1000 || math.Abs(s.Value-v) > 1e-9 {
				t.Errorf("%s: point %d = %d %v, want %d %v", f, j, s.TimestampMs, s.Value, ts*1000, v)
			}
		}
	}
}

// TestValueWidth checks the assumption the patching rests on: every
// value has five characters.
func TestValueWidth(t *testing.T) {
	for i := 0; i < 5000; i++ {
		for r := 0; r < 1440; r += 7 {
			if v := value10(i, r); v < 1000 || v > 9999 {
				t.Fatalf("value10(%d, %d) = %d, outside [1000, 9999]", i, r, v)
			}
		}
	}
}

// TestSmoke runs the harness against the real binary with a few thousand
// series and checks that the report is produced and sane: every phase sent
// its points, the server's CPU and memory were read, and every target is
// judged.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the service")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "detector")
	build := exec.Command("go", "build", "-o", bin, "./cmd/detector")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/detector: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o := options{series: 3000, learn: 3, points: 2, formats: formats, conns: 2, batch: 700,
		bin: bin, probeEvery: time.Millisecond, idle: 200 * time.Millisecond}
	rep, err := run(ctx, o, &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	t.Logf("\n%s", out.String())
	wantPhases := []string{"learning (json)", phaseIdle, phaseFloor, "steady json", "steady line", "steady remote_write"}
	if len(rep.Phases) != len(wantPhases) {
		t.Fatalf("%d phases, want %v", len(rep.Phases), wantPhases)
	}
	for i, p := range rep.Phases {
		if p.Name != wantPhases[i] {
			t.Errorf("phase %d = %q, want %q", i, p.Name, wantPhases[i])
		}
		if p.Name == phaseIdle || p.Name == phaseFloor {
			if p.Probes == 0 || !(p.P99 > 0) {
				t.Errorf("%s: %d reads, p99 %v ms; want some", p.Name, p.Probes, p.P99)
			}
			continue
		}
		rounds := map[bool]int{true: o.learn, false: o.points}[i == 0]
		if p.Rounds != rounds || p.Points != int64(rounds*o.series) || !(p.PointsPerSec > 0) || math.IsInf(p.PointsPerSec, 0) {
			t.Errorf("%s: %d rounds, %d points, %v points/s; want %d rounds of %d", p.Name, p.Rounds, p.Points, p.PointsPerSec, rounds, o.series)
		}
		if !(p.RSSPerSeries > 0) || p.ServerCPUUs < 0 || p.ClientCPUUs < 0 {
			t.Errorf("%s: RSS %v B/series, server %v µs/pt, client %v µs/pt", p.Name, p.RSSPerSeries, p.ServerCPUUs, p.ClientCPUUs)
		}
	}
	if rep.PeakRSS < rep.RSS || rep.RSS <= 0 {
		t.Errorf("RSS %d, peak %d", rep.RSS, rep.PeakRSS)
	}
	if len(rep.Targets) != 4 {
		t.Fatalf("%d targets judged, want 4", len(rep.Targets))
	}
	text := out.String()
	for _, tg := range rep.Targets {
		if tg.Status == "" || !strings.Contains(text, tg.Name) {
			t.Errorf("target %q: status %q, or missing from the report", tg.Name, tg.Status)
		}
	}
	// At 3000 series the size-bound goals are not judged.
	if s := rep.Targets[0].Status; !strings.HasPrefix(s, "not measured") {
		t.Errorf("the 1 M-series throughput goal judged on 3000 series: %q", s)
	}
	if m := rep.Targets[2].Measured; !strings.Contains(m, "a trivial server on this machine: p99") {
		t.Errorf("the detect goal's figure does not give the machine's floor: %q", m)
	}
	for _, want := range []string{"| phase |", "| " + phaseFloor + " |", "| steady remote_write |", "| target | measured | status |", "peak RSS"} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestDetectGoalAgainstFloor: the read-tail goal names the machine's own
// floor when the trivial server's p99 is at or above the goal, and is
// judged on the service's reads otherwise.
func TestDetectGoalAgainstFloor(t *testing.T) {
	for _, tt := range []struct {
		service, floor float64 // p99, ms; floor 0: no floor phase
		want           string
	}{
		{1.2, 0.4, "met"},
		{1.2, 3.1, "met"},
		{6.5, 0.5, "not met"},
		{6.5, 0, "not met"},
		{6.5, 7.8, "not met; the machine's own floor is above the goal"},
	} {
		r := &report{Series: 1_000_000, Phases: []phase{{Name: "steady json", Rounds: 1, P99: tt.service, Probes: 100}}}
		if tt.floor > 0 {
			r.Phases = append(r.Phases, phase{Name: phaseFloor, P99: tt.floor, Probes: 100})
		}
		got := targets(r)[2]
		if got.Status != tt.want {
			t.Errorf("service p99 %v, floor %v: status %q, want %q", tt.service, tt.floor, got.Status, tt.want)
		}
		if hasFloor := strings.Contains(got.Measured, "trivial server"); hasFloor != (tt.floor > 0) {
			t.Errorf("service p99 %v, floor %v: measured %q", tt.service, tt.floor, got.Measured)
		}
	}
}
