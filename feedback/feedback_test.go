package feedback

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

type fakeApplier struct {
	calls [][3]string
	err   error
}

func (f *fakeApplier) Feedback(_ context.Context, series, label, det string) error {
	f.calls = append(f.calls, [3]string{series, label, det})
	return f.err
}

func TestRecord(t *testing.T) {
	ap := &fakeApplier{}
	s, err := New(ap, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a := anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: "s", Detector: "spike"}
	for i, l := range []string{"anomaly", "not_anomaly", "not_anomaly", "expected"} {
		a.ID = anomaly.ID(i + 1)
		if _, err := s.Record(ctx, a, l); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	// Anomaly 4 relabelled: expected -> anomaly, counted once.
	if c, _ := s.Record(ctx, a, "anomaly"); c.Total != 4 || c.Labels["expected"] != 0 || c.Labels["anomaly"] != 2 {
		t.Errorf("after a relabel: %+v", c)
	}
	a.ID = 5
	c, err := s.Record(ctx, a, "new_normal")
	if err != nil || c.Total != 5 || c.Labels["not_anomaly"] != 2 || c.Precision != 0.6 {
		t.Errorf("counts %+v, %v; want 5 labels, precision 0.6", c, err)
	}
	if len(ap.calls) != 6 || ap.calls[1] != [3]string{"s", "not_anomaly", "spike"} {
		t.Errorf("applier calls %v", ap.calls)
	}
	if _, err := s.Record(ctx, a, "bogus"); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
		t.Errorf("bogus label: %v", err)
	}
	if _, err := s.Record(ctx, anomaly.Anomaly{Kind: anomaly.KindPeerOutlier}, "anomaly"); anomaly.ErrorCode(err) != anomaly.CodeInvalidArgument {
		t.Errorf("peer outlier: %v", err)
	}
	// A series no longer live: counted all the same.
	ap.err = anomaly.Errorf(anomaly.CodeNotFound, "gone")
	if c, err := s.Record(ctx, anomaly.Anomaly{Kind: anomaly.KindPoint, Series: "gone", Detector: "level"}, "anomaly"); err != nil || c.Total != 1 {
		t.Errorf("gone series: %+v, %v", c, err)
	}
	ap.err = anomaly.Errorf(anomaly.CodeUnavailable, "down")
	if _, err := s.Record(ctx, a, "anomaly"); anomaly.ErrorCode(err) != anomaly.CodeUnavailable {
		t.Errorf("applier failing: %v", err)
	}
	sum := s.Summary()
	if len(sum.Detectors) != 2 || sum.Detectors[0].Detector != "level" || sum.Detectors[1].Detector != "spike" {
		t.Errorf("summary %+v", sum)
	}
}
