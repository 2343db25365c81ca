package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/store"
)

// startPersistent starts a Main on dir; the caller closes it.
func startPersistent(t *testing.T, dir string) (*Main, string) {
	t.Helper()
	m, err := NewMain(Config{Listen: "127.0.0.1:0", Persist: PersistConfig{DataDir: dir}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("NewMain on %s: %v", dir, err)
	}
	if err := m.Start(); err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, "http://" + m.Addr()
}

// ingestScenario posts the canonical scenario for series name.
func ingestScenario(t *testing.T, base, name string, seed uint64) {
	t.Helper()
	sc := synth.NewScenario(seed)
	for start := 0; start < len(sc.Ts); start += 1000 {
		var pts []point
		for i := start; i < min(start+1000, len(sc.Ts)); i++ {
			pts = append(pts, point{name, time.UnixMilli(sc.Ts[i]).UTC().Format(time.RFC3339), sc.Values[i]})
		}
		var res anomaly.IngestResult
		if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != 200 || res.Rejected != 0 {
			t.Fatalf("POST points = %d, %+v", code, res)
		}
	}
}

func listAnomalies(t *testing.T, base string) []anomaly.Anomaly {
	t.Helper()
	var out []anomaly.Anomaly
	cursor := ""
	for {
		var page anomaly.AnomalyPage
		if code := getJSON(t, base+"/api/v1/anomalies?limit=50&cursor="+url.QueryEscape(cursor), &page); code != 200 {
			t.Fatalf("GET anomalies = %d", code)
		}
		out = append(out, page.Anomalies...)
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

// TestTimelineSurvivesRestart ingests a scenario with anomalies, adds a
// peer rule, closes the service and starts a new one on the same data
// directory: the timeline and the rule are there, and new anomalies get
// ids above every earlier one.
func TestTimelineSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by the service
	m, base := startPersistent(t, dir)
	ingestScenario(t, base, `requests{app="api"}`, 1)
	rule := map[string]any{"name": "api-hosts", "match": `cpu{app="api"}`, "group_by": []string{"dc"}, "member": "host"}
	var created map[string]any
	if code := postJSON(t, base+"/api/v1/peers/rules", rule, &created); code != http.StatusCreated {
		t.Fatalf("POST peers/rules = %d, %v", code, created)
	}
	before := listAnomalies(t, base)
	if len(before) < 3 {
		t.Fatalf("before restart: %d anomalies, want at least 3 (spike, dip, level shift)", len(before))
	}
	var maxBefore anomaly.ID
	for _, a := range before {
		maxBefore = max(maxBefore, a.ID)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		t.Fatalf("timeline file: %v", err)
	}

	m, base = startPersistent(t, dir)
	defer m.Close()
	after := listAnomalies(t, base)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("after restart the timeline differs:\n got %+v\nwant %+v", after, before)
	}
	for _, a := range before[:3] {
		var got anomaly.Anomaly
		if code := getJSON(t, base+"/api/v1/anomalies/"+a.ID.String(), &got); code != 200 || !reflect.DeepEqual(got, a) {
			t.Errorf("GET anomalies/%s after restart = %d, %+v, want %+v", a.ID, code, got, a)
		}
	}
	resp, err := http.Get(base + "/api/v1/peers/rules")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"api-hosts"`) {
		t.Errorf("GET peers/rules after restart = %s, want the rule api-hosts", body)
	}

	ingestScenario(t, base, `requests{app="web"}`, 2)
	var page anomaly.AnomalyPage
	getJSON(t, base+"/api/v1/anomalies?series="+url.QueryEscape(`requests{app="web"}`), &page)
	if len(page.Anomalies) == 0 {
		t.Fatal("no anomaly on the series ingested after the restart")
	}
	for _, a := range page.Anomalies {
		if a.ID <= maxBefore {
			t.Errorf("anomaly opened after the restart has id %s, want above %s", a.ID, maxBefore)
		}
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"detector_timeline_events_total", "detector_timeline_write_batches_total",
		"detector_timeline_dropped_events_total", "detector_timeline_anomalies", `detector_timeline_retention_deleted_total{reason="age"}`} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

// TestDataDirLocked: a second service on the same data directory fails
// fast with an error saying so.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	m, _ := startPersistent(t, dir)
	defer m.Close()
	_, err := NewMain(Config{Listen: "127.0.0.1:0", Persist: PersistConfig{DataDir: dir}},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second NewMain on %s: error %v, want one saying the timeline is locked", dir, err)
	}
}
