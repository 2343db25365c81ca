package stream

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestClip(t *testing.T) {
	for _, c := range []struct{ x, c, want float64 }{{5, 3, 3}, {-5, 3, -3}, {1, 3, 1}, {0, 0, 0}} {
		if got := Clip(c.x, c.c); got != c.want {
			t.Errorf("Clip(%v, %v) = %v, want %v", c.x, c.c, got, c.want)
		}
	}
}

func TestHuberBoundedInfluence(t *testing.T) {
	if got := Huber(10, 1e9, 1, 0.1, 3); got != 10.3 {
		t.Errorf("Huber(10, 1e9, 1, 0.1, 3) = %v, want 10.3", got)
	}
	if got := Huber(10, 11, 1, 0.5, 3); got != 10.5 {
		t.Errorf("Huber(10, 11, 1, 0.5, 3) = %v, want 10.5", got)
	}
}

func TestMedianConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	m := 0.0
	for range 20000 {
		m = Median(m, math.Abs(r.NormFloat64()*3), 0.01, 0)
	}
	// The median of |N(0, 3^2)| is 3*0.6745.
	if want := 3 * 0.6745; math.Abs(m-want) > 0.15*want {
		t.Errorf("Median of |N(0,9)| = %v, want about %v", m, want)
	}
	if got := MADToSigma * m; math.Abs(got-3) > 0.45 {
		t.Errorf("sigma from median = %v, want about 3", got)
	}
}

func TestMedianFloorAndOutlier(t *testing.T) {
	if got := Median(1, 0, 0.1, 0.5); math.Abs(got-math.Exp(-0.1)) > 1e-8 {
		t.Errorf("Median(1, 0, .1, .5) = %v, want %v", got, math.Exp(-0.1))
	}
	if got := Median(1, 1e12, 0.1, 0); math.Abs(got-math.Exp(0.1)) > 1e-8 {
		t.Errorf("Median(1, 1e12, .1, 0) = %v, want e^0.1 (bounded influence)", got)
	}
	if got := Median(0.001, 0, 0.1, 0.01); got != 0.01 {
		t.Errorf("Median below floor = %v, want 0.01", got)
	}
}

func TestMoments(t *testing.T) {
	var m Moments
	r := rand.New(rand.NewPCG(3, 4))
	for range 50000 {
		m.Update(5+2*r.NormFloat64(), 0.001)
	}
	if math.Abs(m.Mean-5) > 0.3 || math.Abs(m.Std()-2) > 0.3 {
		t.Errorf("Moments of N(5,4) = mean %v std %v, want 5 and 2", m.Mean, m.Std())
	}
}

func TestSurprise(t *testing.T) {
	cases := []struct{ z, want float64 }{
		{0, 0},
		{1.959964, 1.30103}, // p = 0.05
		{-3.290527, 3},      // p = 0.001, either side
		{6.109410, 9},       // p = 1e-9
	}
	for _, c := range cases {
		if got := Surprise(c.z); math.Abs(got-c.want) > 1e-3 {
			t.Errorf("Surprise(%v) = %v, want %v", c.z, got, c.want)
		}
	}
	prev := 0.0
	for z := 0.5; z < 1e6; z *= 1.5 {
		s := Surprise(z)
		if !(s >= prev) || math.IsInf(s, 0) || s > 300 {
			t.Fatalf("Surprise(%v) = %v after %v: want finite, non-decreasing, <= 300", z, s, prev)
		}
		prev = s
	}
	if got := Surprise(math.NaN()); got != 0 {
		t.Errorf("Surprise(NaN) = %v, want 0", got)
	}
	if got := Surprise(math.Inf(1)); got != 300 {
		t.Errorf("Surprise(+Inf) = %v, want 300", got)
	}
}

func TestScale(t *testing.T) {
	var s Scale
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		s.Update(math.Abs(2*r.NormFloat64()), 0.01, 0.01)
	}
	if got := s.Sigma(0.5, 0); math.Abs(got-2) > 0.3 {
		t.Errorf("Scale.Sigma of N(0,4) residuals = %v, want about 2", got)
	}
	// Zero-inflated: 99% zeros, 1% of size 10. The median collapses; the
	// mean keeps the scale away from 0.
	var z Scale
	for i := range 20000 {
		x := 0.0
		if i%100 == 0 {
			x = 10
		}
		z.Update(x, 0.01, 0.001)
	}
	if got := z.Sigma(0.5, 1e-9); got < 0.03 {
		t.Errorf("zero-inflated Scale.Sigma = %v, want the mean floor (about 0.06)", got)
	}
}

func TestQuantile(t *testing.T) {
	var q Quantile
	r := rand.New(rand.NewPCG(7, 8))
	for range 200000 {
		q.Update(math.Abs(r.NormFloat64()), 0.99, 0.01, 0.1)
	}
	// The 99% quantile of |N(0,1)| is 2.576.
	if got := float64(q.Q); math.Abs(got-2.576) > 0.35 {
		t.Errorf("Quantile 0.99 of |N(0,1)| = %v, want about 2.576", got)
	}
	var z Quantile
	z.Update(0, 0.99, 0.05, 2)
	if z.Q != 2 {
		t.Errorf("first Update below min: Q = %v, want min 2", z.Q)
	}
	z.Update(math.Inf(1), 0.99, 0.05, 2)
	if math.IsInf(float64(z.Q), 0) || math.IsNaN(float64(z.Q)) {
		t.Errorf("Update(+Inf): Q = %v, want finite", z.Q)
	}
}

func TestInvTail(t *testing.T) {
	for _, z := range []float64{0.1, 1, 2.5, 5, 7, 8, 10, 20, 35} {
		p := NormalTail(z)
		if got := InvTail(p); math.Abs(got-z) > 1e-6*z+1e-9 {
			t.Errorf("InvTail(NormalTail(%v) = %v) = %v, want %v", z, p, got, z)
		}
	}
	if got := InvTail(1e-300); !(got > 37 && got < 38) {
		t.Errorf("InvTail(1e-300) = %v, want about 37", got)
	}
	for _, s := range []float64{0.5, 2, 9, 20, 100} {
		if got := Surprise(InvSurprise(s)); math.Abs(got-s) > 1e-6*s {
			t.Errorf("Surprise(InvSurprise(%v)) = %v", s, got)
		}
	}
}
