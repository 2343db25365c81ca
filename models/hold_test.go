package models

import (
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestHoldAfterAlert: a burst of extreme points alerts once; during the
// hold the next points are normal and lie inside their band (the band is
// the verdict), and once the hold is over a new excursion alerts again.
func TestHoldAfterAlert(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 4 * 288, Noise: 1, Seed: 5})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1]
	level := m.last.Expected
	var states []anomaly.State
	for i := range 3 * c.HoldPoints {
		ts += 300_000
		v := float64(level) + float64(i%2)*0.5
		if i < 4 || i == 2*c.HoldPoints {
			v = float64(level) + 40 + 10*float64(i) // rising extremes
		}
		r := m.Update(&c, ts, v)
		if (r.State == anomaly.StateAnomalous) != (v < r.Lower || v > r.Upper) && r.Detector != DetectorStuck {
			t.Fatalf("point %d: %v with %v outside [%v, %v]", i, r.State, v, r.Lower, r.Upper)
		}
		states = append(states, r.State)
	}
	if states[0] != anomaly.StateAnomalous {
		t.Fatalf("the burst's first point: %v", states[0])
	}
	for i := 1; i < 4; i++ {
		if states[i] != anomaly.StateNormal {
			t.Errorf("burst point %d during the hold: %v, want normal", i, states[i])
		}
	}
	if states[2*c.HoldPoints] != anomaly.StateAnomalous {
		t.Errorf("an excursion after the hold: %v, want anomalous", states[2*c.HoldPoints])
	}

	// HoldPoints 0: the rising burst alerts at its later points too.
	c.HoldPoints = 0
	_, m = run(&c, s.Ts, s.Values)
	ts = s.Ts[len(s.Ts)-1]
	n := 0
	for i := range 4 {
		ts += 300_000
		if m.Update(&c, ts, float64(level)+40+10*float64(i)).State == anomaly.StateAnomalous {
			n++
		}
	}
	if n < 2 {
		t.Errorf("without a hold %d of 4 rising extremes alert, want at least 2", n)
	}
}
