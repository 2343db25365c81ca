package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// TestCountsPoissonTails: on a series of rare events (Poisson counts of
// mean 0.2), a count of 3 is within what such a series does about once in
// a thousand points and does not alert, while a burst of 12 does; an
// integer gauge with little noise keeps its robust scales (a jump of 10
// units alerts there).
func TestCountsPoissonTails(t *testing.T) {
	c := DefaultConfig()
	r := rand.New(rand.NewPCG(1, 2))
	poisson := func(lam float64) float64 {
		l, k, p := math.Exp(-lam), 0.0, 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	var m Model
	ts := int64(1_700_000_000_000)
	for range 4 * 288 {
		ts += 300_000
		v := poisson(0.2)
		if v >= 3 {
			v = 0 // keep the history below the counts judged next
		}
		m.Update(&c, ts, v)
	}
	if m.flags&flagCount == 0 {
		t.Fatal("a series of counts is not known as one")
	}
	if k := m.compute(&c, ts+300_000, 3); !k.pois {
		t.Fatalf("rare events of mean %.2f are not judged against Poisson tails", k.expSlow)
	}
	three := m.Peek(&c, ts+300_000, 3)
	if three.State != anomaly.StateNormal || 3 < three.Lower || 3 > three.Upper {
		t.Errorf("a count of 3 on rare events: %v in [%v, %v], want normal inside", three.State, three.Lower, three.Upper)
	}
	if burst := m.Peek(&c, ts+300_000, 12); burst.State != anomaly.StateAnomalous {
		t.Errorf("a burst of 12 on rare events: %v, want anomalous", burst.State)
	}

	// An integer gauge: 12 +-1.
	var g Model
	ts = 1_700_000_000_000
	for range 4 * 288 {
		ts += 300_000
		g.Update(&c, ts, 12+float64(r.IntN(3)-1))
	}
	if k := g.compute(&c, ts+300_000, 22); k.pois {
		t.Error("an integer gauge with little noise is judged as a Poisson count")
	}
	if j := g.Peek(&c, ts+300_000, 22); j.State != anomaly.StateAnomalous {
		t.Errorf("a jump of 10 units on an integer gauge: %v, want anomalous", j.State)
	}
	// A value that is not a count ends the count treatment for good.
	g.Update(&c, ts+300_000, 12.5)
	if g.flags&flagCount != 0 {
		t.Error("a non-integer value kept the series a count")
	}
}

// TestCountConfirmation: on a sparse count series (mean 0.2) a run of
// ones is ordinary (a Poisson count of mean 0.2 is 1 about one point in
// six): the confirming point must lie beyond the count's Poisson tail too,
// so no run of small counts confirms itself.
func TestCountConfirmation(t *testing.T) {
	c := DefaultConfig()
	for seed := range uint64(4) {
		s, _, _ := synth.Healthy{Shape: synth.ShapeSparse, Days: 10, Seed: seed}.Gen()
		_, m := run(&c, s.Ts, s.Values)
		ts := s.Ts[len(s.Ts)-1]
		for i := range 4 {
			ts += 300_000
			if r := m.Update(&c, ts, 1); r.State == anomaly.StateAnomalous {
				t.Fatalf("seed %d: the %d-th 1 in a row is anomalous (%v, score %v, band [%v, %v])", seed, i+1, r.Detector, r.Score, r.Lower, r.Upper)
			}
		}
	}
}
