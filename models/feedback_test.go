package models

import (
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestRebase: after a level shift, new_normal makes the new level normal
// at once; without it the shift keeps alerting for a while.
func TestRebase(t *testing.T) {
	c := DefaultConfig()
	c.HoldPoints = 0 // the hold after an alert would silence the shift's next points either way
	anomalousAfter := func(rebase bool) int {
		s := synth.Generate(synth.Config{Points: 3 * 288, Noise: 1, Seed: 2})
		_, m := run(&c, s.Ts, s.Values)
		ts := s.Ts[len(s.Ts)-1]
		n := 0
		for i := range 60 {
			ts += 300_000
			v := 130 + float64(i%3) - 1 // a lasting shift of 30 sigmas
			r := m.Update(&c, ts, v)
			if i == 0 {
				if r.State != anomaly.StateAnomalous {
					t.Fatalf("the shift's first point: %v", r.State)
				}
				if rebase {
					m.Rebase(&c)
				}
				continue
			}
			if r.State == anomaly.StateAnomalous {
				n++
			}
		}
		return n
	}
	with, without := anomalousAfter(true), anomalousAfter(false)
	if with != 0 || without == 0 {
		t.Errorf("anomalous points after the shift: %d with new_normal (want 0), %d without (want some)", with, without)
	}
}

// TestDesensitise: not_anomaly on a spike alert raises that detector's
// calibration, so its band widens and the same jump scores lower.
func TestDesensitise(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 4 * 288, Noise: 1, Seed: 8})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1] + 300_000
	before := m.Peek(&c, ts, 100)
	q := m.cal[calFast].Q
	m.Desensitise(&c, DetectorSpike)
	after := m.Peek(&c, ts, 100)
	if !(m.cal[calFast].Q > q) || !(after.Upper-after.Lower >= before.Upper-before.Lower) {
		t.Errorf("desensitised: quantile %v -> %v, band %v..%v -> %v..%v", q, m.cal[calFast].Q, before.Lower, before.Upper, after.Lower, after.Upper)
	}
	// Stuck: the run that fired becomes ordinary.
	m.flat = 40
	old := m.stuckAfter(&c)
	m.Desensitise(&c, DetectorStuck)
	if m.stuckAfter(&c) <= old && m.stuckAfter(&c) < 4*41 {
		t.Errorf("stuck after %d -> %d, want beyond the run of 41", old, m.stuckAfter(&c))
	}
}
