package models

import (
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestConfirmWeakEvidence: on a flat noisy series a new record a little
// beyond the gate (between NoveltyMinZ and ConfirmZ robust scales) is
// normal on its own and inside its band; it makes the next point
// anomalous when that one lies ConfirmNext scales out on the same side, and
// not when it is ordinary. A point beyond ConfirmZ alerts on its own.
func TestConfirmWeakEvidence(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 4 * 288, Noise: 1, Seed: 3})
	base := func() (*Model, int64, float64) {
		_, m := run(&c, s.Ts, s.Values)
		return m, s.Ts[len(s.Ts)-1], m.hi
	}
	check := func(what string, r Result, v float64) {
		t.Helper()
		if (r.State == anomaly.StateAnomalous) != (v < r.Lower || v > r.Upper) {
			t.Fatalf("%s: %v with %v against [%v, %v]", what, r.State, v, r.Lower, r.Upper)
		}
	}
	weak := func(m *Model, ts int64, hi float64) (float64, Result) {
		t.Helper()
		// a new record between the gate and ConfirmZ fast scales
		k := m.compute(&c, ts, hi)
		sc := k.sFast
		z := (c.NoveltyMinZ + c.ConfirmZ) / 2
		v := min(k.expFast+z*sc, k.expSlow+z*k.sSlow)
		if v <= hi {
			t.Skipf("the record %v lies beyond %v scales", hi, (c.NoveltyMinZ+c.ConfirmZ)/2)
		}
		r := m.Update(&c, ts, v)
		check("weak record", r, v)
		if r.State != anomaly.StateNormal {
			t.Fatalf("weak record z %.2f: %v, want normal", r.Z, r.State)
		}
		if m.flags&flagWeakUp == 0 {
			t.Fatalf("the record %v (z %.2f) was not kept as weak evidence", v, r.Z)
		}
		return sc, r
	}

	m, ts, hi := base()
	sc, r := weak(m, ts+300_000, hi)
	v := r.Expected + (c.ConfirmNext+0.5)*sc
	r = m.Update(&c, ts+600_000, v)
	check("confirming point", r, v)
	if r.State != anomaly.StateAnomalous || r.Score < c.Threshold {
		t.Errorf("the next point %.2f scales out on the same side: %v score %v, want anomalous", (v-r.Expected)/sc, r.State, r.Score)
	}

	m, ts, hi = base()
	_, r = weak(m, ts+300_000, hi)
	v = r.Expected
	if r = m.Update(&c, ts+600_000, v); r.State != anomaly.StateNormal {
		t.Errorf("an ordinary point after weak evidence: %v, want normal", r.State)
	}

	m, ts, _ = base()
	k := m.compute(&c, ts+300_000, 0)
	v = k.expFast + (c.ConfirmZ+4)*k.sFast
	r = m.Update(&c, ts+300_000, v)
	check("strong record", r, v)
	if r.State != anomaly.StateAnomalous {
		t.Errorf("a record %.1f scales out: %v, want anomalous on its own", c.ConfirmZ+4, r.State)
	}
}
