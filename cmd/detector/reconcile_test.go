package main

import (
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// TestRestartResolvesOrphans: an anomaly the timeline holds open but that
// no restored series holds open (here: opened for a series the snapshot
// does not know, as after a crash) is resolved at start; an anomaly open in
// a restored series stays open.
func TestRestartResolvesOrphans(t *testing.T) {
	dir := t.TempDir()
	m, base := startPersistent(t, dir)
	const name = `latency{app="api"}`
	ingestScenario(t, base, name, 1)
	ghost := anomaly.ID(1 << 40)
	at := time.Unix(1767571200, 0).UTC()
	m.svc.Recorder().Record(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: ghost, AnomalyKind: anomaly.KindPoint,
		Series: `ghost{app="x"}`, At: at, Verdict: anomaly.Verdict{Series: `ghost{app="x"}`, Timestamp: at, Score: 1, State: anomaly.StateAnomalous}})
	var before []anomaly.Anomaly
	for _, a := range listAnomalies(t, base) {
		if a.Open() && a.ID != ghost {
			before = append(before, a)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m2, base2 := startPersistent(t, dir)
	defer m2.Close()
	after := map[anomaly.ID]anomaly.Anomaly{}
	for _, a := range listAnomalies(t, base2) {
		after[a.ID] = a
	}
	if g, ok := after[ghost]; !ok || g.Open() {
		t.Errorf("orphan anomaly after restart = %+v (present %v), want resolved", g, ok)
	}
	for _, a := range before {
		if got := after[a.ID]; !got.Open() {
			t.Errorf("anomaly %d of %s was open in the restored series, is %+v after restart", a.ID, a.Series, got)
		}
	}
}
