package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/service"
	"github.com/anomalyd/detector/snapshot"
	"github.com/anomalyd/detector/timeline"
)

// restartSeries is the number of series the restart tests feed; each is
// the canonical scenario with its own seed (so each has anomalies).
const restartSeries = 6

func restartName(i int) string { return fmt.Sprintf(`restart_requests{app="api",instance="i-%d"}`, i) }

// restartIngest posts points [from, to) of every series' scenario in one
// request and fails unless all are accepted.
func restartIngest(t *testing.T, base string, from, to int) {
	t.Helper()
	var pts []point
	for i := range restartSeries {
		sc := synth.NewScenario(uint64(100 + i))
		for j := from; j < to; j++ {
			pts = append(pts, point{restartName(i), time.UnixMilli(sc.Ts[j]).UTC().Format(time.RFC3339), sc.Values[j]})
		}
	}
	var res anomaly.IngestResult
	if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != 200 || res.Accepted != len(pts) {
		t.Fatalf("POST %d points = %d, accepted %d, errors %+v", len(pts), code, res.Accepted, res.Errors)
	}
}

// seriesBodies returns the raw GET /api/v1/series/{s} answer of every
// series: the summary, the baseline (expected values, seasonal profile) and
// the last verdict, all derived from the model and the engine's
// bookkeeping.
func seriesBodies(t *testing.T, base string) []string {
	t.Helper()
	out := make([]string, restartSeries)
	for i := range out {
		resp, err := http.Get(base + "/api/v1/series/" + url.PathEscape(restartName(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET series %s = %d %s", restartName(i), resp.StatusCode, b)
		}
		out[i] = string(b)
	}
	return out
}

func seriesPoints(t *testing.T, body string) uint64 {
	t.Helper()
	var d anomaly.SeriesDetail
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	return d.Points
}

// restartAnomalies lists every anomaly on the timeline.
func restartAnomalies(t *testing.T, base string) []anomaly.Anomaly {
	t.Helper()
	var all []anomaly.Anomaly
	cursor := ""
	for {
		var page anomaly.AnomalyPage
		u := base + "/api/v1/anomalies?limit=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if code := getJSON(t, u, &page); code != 200 {
			t.Fatalf("GET anomalies = %d", code)
		}
		all = append(all, page.Anomalies...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// timelineIsPersistent says whether --data-dir keeps the anomaly timeline
// (persist.go), so that the restart tests can check it survives.
func timelineIsPersistent(t *testing.T) bool {
	t.Helper()
	tl, _, err := service.OpenTimeline(service.Config{DataDir: t.TempDir()}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	_, mem := tl.(*timeline.Memory)
	return !mem
}

// checkTimelineSurvivesRestart checks that every anomaly listed before the
// restart is listed after it, with the same identity and start. It is
// skipped, with a log line, while the timeline is kept in memory only.
func checkTimelineSurvivesRestart(t *testing.T, before, after []anomaly.Anomaly) {
	t.Helper()
	if !timelineIsPersistent(t) {
		t.Log("the timeline is kept in memory only: its survival is not checked")
		return
	}
	byID := map[anomaly.ID]anomaly.Anomaly{}
	for _, a := range after {
		byID[a.ID] = a
	}
	for _, a := range before {
		b, ok := byID[a.ID]
		if !ok || b.Series != a.Series || b.Kind != a.Kind || !b.StartedAt.Equal(a.StartedAt) {
			t.Errorf("anomaly %d (%s at %s) after restart: %+v (found %v)", a.ID, a.Series, a.StartedAt, b, ok)
		}
	}
}

// newestSnapshot returns the header of the newest committed generation in
// dataDir, if any.
func newestSnapshot(t *testing.T, dataDir string) (snapshot.Header, bool) {
	t.Helper()
	sdir := filepath.Join(dataDir, snapshotDir)
	if _, err := os.Stat(sdir); err != nil {
		return snapshot.Header{}, false
	}
	// Read-only: the running service writes here (OpenStore would remove
	// its snapshot in progress as a stale temporary file).
	gs, err := snapshot.List(sdir)
	if err != nil || len(gs) == 0 {
		return snapshot.Header{}, false
	}
	h, err := snapshot.Verify(gs[0].Path, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return snapshot.Header{}, false // rotated away by a newer generation meanwhile
	}
	if err != nil {
		t.Fatalf("newest snapshot %s: %v", gs[0].Path, err)
	}
	return h, true
}

// waitSnapshotAfter waits until a snapshot that began after t0 is
// committed, and returns its header.
func waitSnapshotAfter(t *testing.T, p *proc, dataDir string, t0 time.Time) snapshot.Header {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h, ok := newestSnapshot(t, dataDir); ok && h.Created.After(t0) {
			return h
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Stop(t, syscall.SIGTERM)
	t.Fatalf("no snapshot begun after %s within 30s\n%s", t0, p.Log)
	return snapshot.Header{}
}

// TestRestartAfterSIGKILL: after a crash, every series' baseline equals
// the one at the last snapshot; the updates after it (at most one
// --snapshot-interval of them) are lost, the timeline is not.
func TestRestartAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	const interval = 2 * time.Second
	args := []string{"--data-dir", dir, "--snapshot-interval", interval.String(), "--shards", "2"}
	p := startBinary(t, args...)

	// Part A: past the scenario's spike, so the timeline has anomalies.
	sc := synth.NewScenario(100)
	restartIngest(t, p.Base, 0, sc.Spike+20)
	ackA := time.Now()
	// Wait for a snapshot that began after A was acknowledged, then for
	// the next one, so that part B and the kill fall early in an interval.
	h := waitSnapshotAfter(t, p, dir, ackA)
	h = waitSnapshotAfter(t, p, dir, h.Created)
	atSnapshot := seriesBodies(t, p.Base)
	anomaliesA := restartAnomalies(t, p.Base)
	if len(anomaliesA) == 0 {
		t.Fatal("no anomaly on the timeline before the crash: the test would not check it")
	}
	time.Sleep(300 * time.Millisecond) // the timeline syncs every 100 ms

	// Part B: acknowledged, then lost with the crash.
	sentB := time.Now()
	restartIngest(t, p.Base, sc.Spike+20, sc.Spike+60)
	afterB := seriesBodies(t, p.Base)
	if err := p.Stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("SIGKILL: want a killed process")
	}
	last, _ := newestSnapshot(t, dir)
	raced := last.Created.After(sentB)

	p = startBinary(t, args...)
	got := seriesBodies(t, p.Base)
	for i := range got {
		switch {
		case got[i] == atSnapshot[i]:
		case raced && got[i] == afterB[i]:
			// A snapshot began after part B was sent: this series may be
			// in it with part B.
		default:
			t.Errorf("series %s after SIGKILL and restart:\n got %s\nwant %s (the last snapshot, %d points)",
				restartName(i), got[i], atSnapshot[i], seriesPoints(t, atSnapshot[i]))
		}
	}
	if raced {
		t.Logf("a snapshot began %s after part B was sent; part B may be restored", last.Created.Sub(sentB))
	} else if lost := seriesPoints(t, afterB[0]) - seriesPoints(t, got[0]); lost != 40 {
		t.Errorf("points lost by the crash = %d, want the 40 of part B", lost)
	}
	checkTimelineSurvivesRestart(t, anomaliesA, restartAnomalies(t, p.Base))
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM after restart: %v\n%s", err, p.Log)
	}
	// The log (read once the process has exited) reports the restore.
	if !strings.Contains(p.Log.String(), "msg=\"snapshot restored\"") {
		t.Errorf("no restore in the log:\n%s", p.Log)
	}
}

// TestRestartAfterSIGTERM: a graceful stop writes a final snapshot after
// the queues are drained, so nothing acknowledged is lost.
func TestRestartAfterSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	// No periodic snapshot within the test: only the final one counts.
	args := []string{"--data-dir", dir, "--snapshot-interval", "1h", "--shards", "2"}
	p := startBinary(t, args...)
	sc := synth.NewScenario(100)
	end := sc.Spike + 50
	for from := 0; from < end; from += 1000 {
		restartIngest(t, p.Base, from, min(from+1000, end))
	}
	before := seriesBodies(t, p.Base)
	anomalies := restartAnomalies(t, p.Base)
	if len(anomalies) == 0 {
		t.Fatal("no anomaly on the timeline: the test would not check it")
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v\n%s", err, p.Log)
	}
	if !strings.Contains(p.Log.String(), "snapshot written") {
		t.Errorf("no final snapshot in the log:\n%s", p.Log)
	}

	p = startBinary(t, args...)
	got := seriesBodies(t, p.Base)
	for i := range got {
		if n := seriesPoints(t, got[i]); n != uint64(end) {
			t.Errorf("series %s after SIGTERM and restart: %d points, want all %d acknowledged", restartName(i), n, end)
		}
		if got[i] != before[i] {
			t.Errorf("series %s after SIGTERM and restart:\n got %s\nwant %s", restartName(i), got[i], before[i])
		}
	}
	after := restartAnomalies(t, p.Base)
	checkTimelineSurvivesRestart(t, anomalies, after)
	// The anomaly ids continue after the restart: new anomalies get new
	// ids.
	maxBefore := slices.MaxFunc(anomalies, func(a, b anomaly.Anomaly) int { return int(a.ID) - int(b.ID) }).ID
	restartIngest(t, p.Base, end, end+30)
	for _, a := range restartAnomalies(t, p.Base) {
		if a.StartedAt.After(time.UnixMilli(sc.Ts[end-1])) && a.ID <= maxBefore {
			t.Errorf("anomaly opened after the restart reuses id %d (ids before went up to %d)", a.ID, maxBefore)
		}
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM after restart: %v\n%s", err, p.Log)
	}
}
