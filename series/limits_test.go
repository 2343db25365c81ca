package series

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// poison sets the model's fast level to +Inf, a state no update reaches
// any more, to check that Export keeps such a model out of a snapshot.
func poison(m *models.Model) {
	f := reflect.ValueOf(m).Elem().FieldByName("fast")
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().SetFloat(math.Inf(1))
}

func TestIngestRejectsValuesBeyondTheRange(t *testing.T) {
	e := newEngine(t, Options{Shards: 2, Now: newClock().Now})
	res, err := e.Ingest(context.Background(), []anomaly.Sample{
		{Series: "a", TimestampMs: 1000, Value: 1},
		{Series: "a", TimestampMs: 2000, Value: 1e41},
		{Series: "a", TimestampMs: 3000, Value: -models.MaxValue},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 1 || res.Errors[0].Code != anomaly.CodeValueRange || res.Errors[0].Index != 1 {
		t.Errorf("Ingest = %+v, want item 1 rejected with %s", res, anomaly.CodeValueRange)
	}
	if _, err := e.WhatIf(context.Background(), "a", []anomaly.Sample{{TimestampMs: 4000, Value: math.MaxFloat64}}); anomaly.ErrorCode(err) != anomaly.CodeValueRange {
		t.Errorf("WhatIf(MaxFloat64) = %v, want %s", err, anomaly.CodeValueRange)
	}
}

func TestExportLeavesOutUnhealthyModels(t *testing.T) {
	e, names := scenarioEngine(t, 2)
	var states []SeriesState
	if _, err := e.Export(context.Background(), 0, func(ss []SeriesState) error {
		states = append(states, ss...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range states {
		if states[i].Key == names[1] {
			poison(&states[i].Model)
			if err := states[i].Model.Check(); !errors.Is(err, models.ErrEncoding) {
				t.Fatalf("Check of a poisoned model = %v", err)
			}
		}
	}
	if _, err := e.Import(states); err != nil {
		t.Fatal(err)
	}
	got, st := exportAll(t, e, 2)
	if st.Unhealthy != 1 || !reflect.DeepEqual(st.UnhealthyKeys, []string{names[1]}) {
		t.Errorf("ExportStats = %+v, want 1 unhealthy: %s", st, names[1])
	}
	if _, ok := got[names[1]]; ok || len(got) != len(states)-1 {
		t.Errorf("Export passed %d series (the poisoned one: %v), want the %d healthy ones", len(got), ok, len(states)-1)
	}
}

func TestKeyLenBound(t *testing.T) {
	if _, err := NewEngine(Options{Limits: Limits{MaxKeyLen: MaxKeyLenBound + 1}}); err == nil {
		t.Error("NewEngine with a key limit above what a snapshot holds = nil error")
	}
}

// TestHashCollisionIsNotMerged: a series whose hash is held by another
// series is refused, not learned into the other's model. A real 64-bit
// collision cannot be found for a test, so the held key is rewritten.
func TestHashCollisionIsNotMerged(t *testing.T) {
	e := newEngine(t, Options{Shards: 1, Now: newClock().Now})
	ctx := context.Background()
	if _, err := e.Ingest(ctx, []anomaly.Sample{{Series: "a", TimestampMs: 1000, Value: 1}}); err != nil {
		t.Fatal(err)
	}
	sh := e.shards[0]
	sh.mu.Lock()
	idx, _ := sh.index[sh.slot(0).hash]
	sh.keys[idx] = "other" // as if "other" held the hash of "a"
	sh.mu.Unlock()
	res, err := e.Ingest(ctx, []anomaly.Sample{{Series: "a", TimestampMs: 2000, Value: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || len(res.Errors) != 1 || res.Errors[0].Code != anomaly.CodeConflict {
		t.Errorf("Ingest into a colliding hash = %+v, want one %s error", res, anomaly.CodeConflict)
	}
}
