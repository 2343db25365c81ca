package series

import (
	"slices"
	"sync"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

// TestVerdictsHook: Options.Verdicts gets one verdict per accepted point,
// in batch order, with the anomalous ones equal to the result's.
func TestVerdictsHook(t *testing.T) {
	var mu sync.Mutex
	var got []anomaly.Verdict
	e := newEngine(t, Options{Shards: 2, Verdicts: func(vs []anomaly.Verdict) {
		mu.Lock()
		got = append(got, vs...)
		mu.Unlock()
	}})
	batch := append(flat(`a{x="1"}`, 0, 60), flat(`b`, 0, 60)...)
	batch = append(batch, anomaly.Sample{Series: "bad name", TimestampMs: 1, Value: 1})
	mustIngest(t, e, batch)
	res := mustIngest(t, e, []anomaly.Sample{{Series: `a{x="1"}`, TimestampMs: 60 * 60000, Value: 5000}, {Series: "b", TimestampMs: 0, Value: 1}})
	if len(got) != 121 {
		t.Fatalf("hook got %d verdicts, want 121 (120 + the spike; rejected points left out)", len(got))
	}
	if got[0].Series != `a{x="1"}` || got[0].State != anomaly.StateLearning || got[0].NeedPoints == 0 || got[60].Series != "b" {
		t.Errorf("first verdicts %+v / %+v", got[0], got[60])
	}
	if got[59].State != anomaly.StateNormal || got[59].Upper <= got[59].Lower {
		t.Errorf("verdict after learning %+v", got[59])
	}
	if len(res.Anomalies) != 1 || !slices.Contains(got, res.Anomalies[0]) {
		t.Errorf("anomalies %+v not among the hook's verdicts", res.Anomalies)
	}
}
