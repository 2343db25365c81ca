package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/snapshot"
)

// TestRestoreVersion4Snapshot: a data directory written by a build whose
// models were at encoding version 4 is restored by this build (version
// 5): the series keeps its learned baseline.
func TestRestoreVersion4Snapshot(t *testing.T) {
	blob, err := os.ReadFile("../../models/testdata/model-v4.bin")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Points uint64 `json:"points"`
		LastTs int64  `json:"last_ts"`
	}
	j, err := os.ReadFile("../../models/testdata/model-v4.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(j, &meta); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := snapshot.OpenStore(filepath.Join(dir, snapshotDir), 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := st.Create(snapshot.Header{ModelVersion: 4, Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	const name = `requests{app="api"}`
	if err := w.Add(&snapshot.Record{Key: []byte(name), LastTs: meta.LastTs, LastUpdate: time.Now().UnixNano(), Model: blob}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m, base := startPersistent(t, dir)
	defer m.Close()
	var d anomaly.SeriesDetail
	if code := getJSON(t, base+"/api/v1/series/"+url.PathEscape(name), &d); code != 200 {
		t.Fatalf("series after restore: status %d", code)
	}
	if d.Points != meta.Points || d.Baseline.PeriodSeconds == 0 {
		t.Fatalf("restored series: %d points, period %d; want %d points and the learned daily cycle", d.Points, d.Baseline.PeriodSeconds, meta.Points)
	}
}
