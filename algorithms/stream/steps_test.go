package stream

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestStepsAreTheRatesOwn: the forms that take precomputed step factors
// (MedianGrowth, Scale.UpdateGrowth, Quantile.UpdateStep) give exactly
// what the rate forms give.
func TestStepsAreTheRatesOwn(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const a, b, p, eta = 0.02, 0.01, 0.995, 0.1
	var s1, s2 Scale
	var q1, q2 Quantile
	m1, m2 := 0.0, 0.0
	g, st := Growth(a), NewQuantileStep(p, eta)
	for i := range 20000 {
		x := math.Abs(r.NormFloat64()) * (1 + float64(i/5000))
		m1, m2 = Median(m1, x, a, 1e-9), MedianGrowth(m2, x, g, 1e-9)
		s1.Update(x, a, b)
		s2.UpdateGrowth(x, g, b)
		q1.Update(x, p, eta, 2.5)
		q2.UpdateStep(x, &st, 2.5)
		if m1 != m2 || s1 != s2 || q1 != q2 {
			t.Fatalf("step %d: median %v vs %v, scale %+v vs %+v, quantile %v vs %v", i, m1, m2, s1, s2, q1.Q, q2.Q)
		}
	}
	if got := Growth(0.05); math.Abs(got-math.Exp(0.05)) > 1e-9 {
		t.Errorf("Growth(0.05) = %v, want e^0.05 = %v", got, math.Exp(0.05))
	}
}

// TestInvSurpriseInvertsSurprise: InvSurprise is the inverse of Surprise
// over its whole range, on both sides of the switch from erfinv to the
// asymptotic tail, and it is monotone there.
func TestInvSurpriseInvertsSurprise(t *testing.T) {
	prev := 0.0
	for s := 0.05; s <= 300; s *= 1.01 {
		z := InvSurprise(s)
		if !(z > prev) {
			t.Fatalf("InvSurprise(%v) = %v, not above %v", s, z, prev)
		}
		prev = z
		if z > 37 {
			continue // Surprise switches to its own asymptotic form there
		}
		if got := Surprise(z); math.Abs(got-s) > 2e-4*s {
			t.Errorf("Surprise(InvSurprise(%v)) = %v", s, got)
		}
	}
	// Either side of p = 1e-12 (s = 11.7), the two forms agree.
	s := -math.Log10(2e-12)
	if lo, hi := InvSurprise(s*(1-1e-9)), InvSurprise(s*(1+1e-9)); math.Abs(hi-lo) > 1e-4 {
		t.Errorf("InvSurprise jumps at the switch: %v to %v", lo, hi)
	}
	if InvSurprise(0) != 0 || InvSurprise(math.NaN()) != 0 || InvSurprise(1e9) != InvSurprise(300) {
		t.Error("InvSurprise edges")
	}
}
