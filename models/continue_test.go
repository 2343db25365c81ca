package models

import (
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestRepeatContinuesAnomaly: right after an alert, while every detector
// suppresses repeats, a value the series has just shown is normal (inside
// its band) even 100 robust scales out, and it keeps the open anomaly open;
// a value beyond everything the series has shown is anomalous all the same
// and scores as the record it is, well above the threshold.
func TestRepeatContinuesAnomaly(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 3000, Noise: 1, Seed: 4})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1]
	step := func(v float64) Result {
		ts += 300_000
		return m.Update(&c, ts, v)
	}
	if r := step(1000); r.State != anomaly.StateAnomalous || r.Transition != TransitionOpened {
		t.Fatalf("spike to 1000: %v %v, want an anomaly opened", r.State, r.Transition)
	}
	// Later repeats: normal, inside their band, and the anomaly stays open
	// (three normal points would resolve it).
	for i := range 4 {
		r := step(1000)
		if r.State != anomaly.StateNormal || r.Transition != TransitionUpdated {
			t.Fatalf("repeat %d of 1000: %v %v, want normal, the anomaly kept open", i, r.State, r.Transition)
		}
		if 1000 < r.Lower || 1000 > r.Upper || r.Score >= c.Threshold {
			t.Fatalf("repeat %d of 1000 outside its band [%v, %v] or score %v", i, r.Lower, r.Upper, r.Score)
		}
	}
	r := step(3000)
	if r.State != anomaly.StateAnomalous || r.Detector == DetectorNone {
		t.Fatalf("record 3000 during the hold: %v %v, want anomalous", r.State, r.Detector)
	}
	if 3000 <= r.Upper {
		t.Fatalf("anomalous 3000 inside its band [%v, %v]", r.Lower, r.Upper)
	}
	if r.Score < c.Threshold+(1-c.Threshold)/2 {
		t.Fatalf("record by twice the range scored %v, want the record's own score", r.Score)
	}
}
