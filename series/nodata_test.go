package series

import (
	"context"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// TestNoDataSweep: a series with a one-minute cadence that goes silent gets
// a no-data anomaly from the sweep once the silence passes the multiple of
// its step, only one however often the sweep runs; its next point resolves
// it. A series still learning, and one that keeps reporting, are left alone.
func TestNoDataSweep(t *testing.T) {
	clk := newClock()
	ev := &sink{}
	e := newEngine(t, Options{Shards: 2, Now: clk.Now, Events: ev})
	ctx := context.Background()
	mustIngest(t, e, flat("quiet", 0, 100))
	mustIngest(t, e, flat("young", 0, 10))
	mustIngest(t, e, flat("busy", 0, 100))
	for i := range 4 {
		clk.Advance(time.Minute)
		mustIngest(t, e, flat("busy", int64(100+i)*60000, 1))
	}
	// quiet and young: 4 minutes of silence, 4x their step.
	if n, err := e.SweepNoData(ctx, 5); n != 0 || err != nil {
		t.Fatalf("SweepNoData(5) after 4 min = %d, %v, want 0", n, err)
	}
	clk.Advance(2 * time.Minute) // 6 min of silence for quiet and young, 2 for busy
	if n, err := e.SweepNoData(ctx, 5); n != 1 || err != nil {
		t.Fatalf("SweepNoData(5) after 6 min = %d, %v, want 1 (quiet)", n, err)
	}
	if n, _ := e.SweepNoData(ctx, 5); n != 0 {
		t.Errorf("second sweep opened %d more, want 0", n)
	}
	var opened anomaly.Event
	for _, x := range ev.all() {
		if x.Kind == anomaly.EventOpened {
			opened = x
		}
	}
	if opened.Series != "quiet" || opened.Verdict.Detector != "no_data" || opened.Verdict.State != anomaly.StateAnomalous ||
		!opened.At.Equal(clk.Now()) || opened.Verdict.Value != flat("quiet", 0, 100)[99].Value {
		t.Fatalf("opened event %+v, want quiet, no_data, at the sweep, with its last value", opened)
	}
	// The next point resolves it and is judged as usual.
	res := mustIngest(t, e, flat("quiet", 100*60000, 1))
	if len(res.Anomalies) != 0 {
		t.Errorf("the returning point: anomalies %v", res.Anomalies)
	}
	var resolved bool
	for _, x := range ev.all() {
		if x.Kind == anomaly.EventResolved && x.AnomalyID == opened.AnomalyID {
			resolved = true
		}
	}
	if !resolved {
		t.Fatalf("the returning point did not resolve anomaly %v: %+v", opened.AnomalyID, ev.all())
	}
	v, err := e.Latest(ctx, "quiet")
	if err != nil || v.AnomalyID != 0 {
		t.Errorf("Latest(quiet) = %+v, %v: want no open anomaly", v, err)
	}
	if _, err := e.SweepNoData(ctx, 0); err == nil {
		t.Error("SweepNoData(0) accepted")
	}
}

// TestNoDataBackground: with Options.NoDataAfter the engine sweeps by
// itself.
func TestNoDataBackground(t *testing.T) {
	clk := newClock()
	ev := &sink{}
	e := newEngine(t, Options{Shards: 1, Now: clk.Now, Events: ev, NoDataAfter: 3, NoDataInterval: 5 * time.Millisecond})
	mustIngest(t, e, flat("s", 0, 100))
	clk.Advance(10 * time.Minute)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, x := range ev.all() {
			if x.Kind == anomaly.EventOpened && x.Verdict.Detector == "no_data" {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no no-data anomaly from the background sweep")
}

func TestNoDataOptions(t *testing.T) {
	if _, err := NewEngine(Options{NoDataAfter: -1}); err == nil {
		t.Error("negative NoDataAfter accepted")
	}
}
