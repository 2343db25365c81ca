package models

import (
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestStuck: a noisy daily series whose collector dies and repeats its
// last value is found by the stuck detector within the documented run
// length, as one anomaly named stuck, inside its band; the later unmoving
// points are normal in value and keep that anomaly open (they bring no
// evidence of their own); it resolves when values move again.
func TestStuck(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 5 * 288, DailyAmp: 20, Noise: 2, Seed: 3})
	_, m := run(&c, s.Ts, s.Values)
	after := m.stuckAfter(&c)
	if after < c.StuckMin || after > 100 {
		t.Fatalf("stuckAfter = %d on a noisy series, want [%d, 100]", after, c.StuckMin)
	}
	ts := s.Ts[len(s.Ts)-1]
	dead := s.Values[len(s.Values)-1]
	opened, first := 0, -1
	for i := range 288 {
		ts += 300_000
		r := m.Update(&c, ts, dead)
		if r.State == anomaly.StateAnomalous {
			if r.Detector != DetectorStuck {
				t.Fatalf("point %d of the flat line: detector %v, want stuck", i, r.Detector)
			}
			if first >= 0 {
				t.Fatalf("point %d: a later point of the stuck run is anomalous again", i)
			}
			if r.Score < c.Threshold {
				t.Fatalf("point %d: stuck with score %v below the threshold", i, r.Score)
			}
			first = i
		} else if first >= 0 {
			if r.Transition != TransitionUpdated {
				t.Fatalf("point %d: transition %v while the line is still flat, want the stuck anomaly kept open", i, r.Transition)
			}
			if r.Score >= c.Threshold {
				t.Fatalf("point %d: normal with score %v", i, r.Score)
			}
		}
		if r.Transition == TransitionOpened {
			opened++
		}
	}
	if first < 0 || first+2 > after+1 {
		t.Fatalf("first stuck point %d, want by point %d (the %d-th unmoving point)", first, after-1, after)
	}
	if opened != 1 {
		t.Fatalf("%d anomalies opened for one dead collector, want 1", opened)
	}
	// Values move again: the anomaly resolves.
	resolved := false
	for i := range 10 {
		ts += 300_000
		r := m.Update(&c, ts, dead+float64(i%3)-1+0.5)
		if r.Transition == TransitionResolved {
			resolved = true
		}
	}
	if !resolved {
		t.Fatal("the stuck anomaly did not resolve when values moved again")
	}
}

// TestStuckQuiet: series whose repeats are ordinary do not alert: a sparse
// count series (runs of zeros), an integer series, and a series constant
// from its first point (no noise to lose).
func TestStuckQuiet(t *testing.T) {
	c := DefaultConfig()
	for _, sh := range []synth.Shape{synth.ShapeSparse, synth.ShapePoisson, synth.ShapeQuantised} {
		for seed := range uint64(3) {
			s, _, _ := synth.Healthy{Shape: sh, Days: 28, Seed: seed}.Gen()
			rs, _ := run(&c, s.Ts, s.Values)
			for i, r := range rs {
				if r.Detector == DetectorStuck {
					t.Fatalf("%s seed %d point %d: stuck on an ordinary repeat", sh, seed, i)
				}
			}
		}
	}
	var m Model
	for i := range 2000 {
		if r := m.Update(&c, int64(i)*60_000, 7); r.State == anomaly.StateAnomalous {
			t.Fatalf("constant series point %d: %v (%v)", i, r.State, r.Detector)
		}
	}
}

// TestVarianceCollapse: the noise vanishing (values that still move, but
// by far less than the series' noise) counts as stuck too.
func TestVarianceCollapse(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 4 * 288, Noise: 5, Seed: 9})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1]
	found := false
	for i := range 200 {
		ts += 300_000
		if r := m.Update(&c, ts, 100+1e-4*float64(i%2)); r.Detector == DetectorStuck {
			found = true
			break
		}
	}
	if !found {
		t.Fatal("variance collapse not found")
	}
}
