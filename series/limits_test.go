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

// TestHashCollisionIsNotMerged: two series with the same 64-bit hash are
// two series, each with its own model, found by its own key, and evicting
// one leaves the other. A real collision cannot be found for a test, so the
// shard is handed points whose hash is forced.
func TestHashCollisionIsNotMerged(t *testing.T) {
	e := newEngine(t, Options{Shards: 1, MaxSeries: -1, Now: newClock().Now})
	sh := e.shards[0]
	const h = 0x1234_5678_9abc_def0
	apply := func(items ...item) []outcome {
		req := &request{done: make(chan struct{}, 1)}
		sub := &subBatch{req: req, items: items, outs: make([]outcome, len(items))}
		req.pending.Store(1)
		sh.apply(sub)
		<-req.done
		return sub.outs
	}
	for i := range 5 {
		ts := int64(i+1) * 60000
		outs := apply(item{hash: h, key: "a", ts: ts, v: 1}, item{hash: h, key: "b", ts: ts, v: 1000})
		for j, o := range outs {
			if o.code != outLearned {
				t.Fatalf("point %d of round %d: code %d, want learned", j, i, o.code)
			}
		}
	}
	if n := e.Stats().Series; n != 2 {
		t.Fatalf("Stats().Series = %d, want 2 series under one hash", n)
	}
	last := func(key string) (float64, bool) {
		sh.mu.RLock()
		defer sh.mu.RUnlock()
		idx, ok := sh.find(Key{canonical: key, hash: h})
		if !ok {
			return 0, false
		}
		_, v, _ := sh.slot(idx).model.Last()
		return v, true
	}
	if v, ok := last("a"); !ok || v != 1 {
		t.Errorf("series a: last value %v (found %v), want 1", v, ok)
	}
	if v, ok := last("b"); !ok || v != 1000 {
		t.Errorf("series b: last value %v (found %v), want 1000", v, ok)
	}
	if _, ok := last("c"); ok {
		t.Error("series c, never written, with the same hash: found")
	}
	sh.mu.Lock()
	idx, _ := sh.find(Key{canonical: "a", hash: h})
	sh.evict(idx, evictIdle)
	sh.mu.Unlock()
	if _, ok := last("a"); ok {
		t.Error("series a found after its eviction")
	}
	if v, ok := last("b"); !ok || v != 1000 {
		t.Errorf("series b after a's eviction: last value %v (found %v), want 1000", v, ok)
	}
}
