package series

import (
	"context"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

func TestEngineFeedback(t *testing.T) {
	e := newEngine(t, Options{Shards: 2, Now: newClock().Now})
	ctx := context.Background()
	mustIngest(t, e, flat("s", 0, 300))
	before, err := e.Get(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Feedback(ctx, "s", "not_anomaly", "spike"); err != nil {
		t.Fatalf("not_anomaly: %v", err)
	}
	for _, l := range []string{"anomaly", "expected", "new_normal"} {
		if err := e.Feedback(ctx, "s", l, "level"); err != nil {
			t.Errorf("%s: %v", l, err)
		}
	}
	after, _ := e.Get(ctx, "s")
	if after.Points != before.Points {
		t.Errorf("feedback changed the point count: %d -> %d", before.Points, after.Points)
	}
	if err := e.Feedback(ctx, "s", "bogus", "spike"); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
		t.Errorf("bogus label: %v", err)
	}
	if err := e.Feedback(ctx, "nope", "anomaly", "spike"); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("unknown series: %v", err)
	}
}
