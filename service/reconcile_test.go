package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/store"
	"github.com/anomalyd/detector/timeline"
)

// TestReconcileRefoldsAResolutionTheTimelineLost: after a crash the
// timeline can hold an anomaly open whose resolution is in the event log
// (the timeline's records and its cursor are written apart). The restart
// folds the logged resolution again instead of appending a second one,
// which every subscriber would be told of as a new event.
func TestReconcileRefoldsAResolutionTheTimelineLost(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ingestAll(t, s.Writer(), spiky("r", time.Now().Add(-24*time.Hour), 1))
	entries, err := s.Events().Read(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var opened, resolved anomaly.Event
	for _, e := range entries {
		switch e.Event.Kind {
		case anomaly.EventOpened:
			opened = e.Event
		case anomaly.EventResolved:
			resolved = e.Event
		}
	}
	if opened.AnomalyID == 0 || resolved.AnomalyID != opened.AnomalyID {
		t.Fatalf("events %+v: want one anomaly opened and resolved", entries)
	}
	last := s.Events().Last()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// The crash's loss: a timeline that has the opening but not the
	// resolution, while its cursor is past both.
	path := filepath.Join(dir, store.FileName)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Record(opened)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(ctx)
	if got := s2.Events().Last(); got != last {
		t.Errorf("event log ends at %d after the restart, want %d: a second resolution was appended", got, last)
	}
	a, err := s2.Timeline().Get(ctx, opened.AnomalyID)
	if err != nil {
		t.Fatal(err)
	}
	if a.Open() || !a.EndedAt.Equal(timeline.PointTime(&resolved)) {
		t.Errorf("anomaly %s ended %v, want resolved at %v as logged", a.ID, a.EndedAt, timeline.PointTime(&resolved))
	}
}
