package likelihood

import (
	"math"
	"math/rand/v2"
	"testing"
)

var params = Params{ShortRate: 0.2, LongRate: 0.001, MinMean: 0.03, MinVar: 0.0003}

func TestQuietSeriesSpike(t *testing.T) {
	var tr Tracker
	for range 1000 {
		if s := tr.Update(0, &params); s != 0 {
			t.Fatalf("Update(0) on a quiet series = %v, want 0", s)
		}
	}
	// One raw score of 1: short mean 0.2, against mean floor 0.03 and sd
	// floor sqrt(0.0003): z = 9.8.
	want := -math.Log10(0.5 * math.Erfc((0.2-0.03)/math.Sqrt(0.0003)/math.Sqrt2))
	if got := tr.Update(1, &params); math.Abs(got-want) > 1e-3*want {
		t.Errorf("Update(1) after quiet = %v, want %v", got, want)
	}
}

func TestNoisySeriesNeedsMore(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	var quiet, noisy Tracker
	for range 3000 {
		quiet.Update(0.01*r.Float64(), &params)
		noisy.Update(r.Float64(), &params)
	}
	q, n := quiet.Update(1, &params), noisy.Update(1, &params)
	if !(q > n) {
		t.Errorf("surprise of a raw 1: quiet series %v, noisy series %v, want quiet > noisy", q, n)
	}
	if n > 3 {
		t.Errorf("surprise of a raw 1 on a uniformly noisy series = %v, want small", n)
	}
}

func TestSurpriseDoesNotChange(t *testing.T) {
	var tr Tracker
	for i := range 100 {
		tr.Update(float64(i%3)/3, &params)
	}
	before := tr
	s := tr.Surprise(tr.Next(0.9, &params), &params)
	if tr != before {
		t.Error("Surprise/Next changed the tracker")
	}
	if got := tr.Update(0.9, &params); got != s {
		t.Errorf("Update = %v, Surprise(Next) = %v, want equal", got, s)
	}
}

func TestEmptyTracker(t *testing.T) {
	var tr Tracker
	if got := tr.Surprise(1, &params); got != 0 {
		t.Errorf("Surprise on an empty tracker = %v, want 0", got)
	}
	if got := tr.Update(1, &params); got != 0 {
		t.Errorf("first Update = %v, want 0 (no history)", got)
	}
	if tr.N != 1 || tr.Short != 1 {
		t.Errorf("after first Update: N %d short %v, want 1 and 1", tr.N, tr.Short)
	}
}

// TestFoldIsUpdate: Fold changes the tracker exactly as Update does, and
// Update's surprise is Surprise of Next before the fold.
func TestFoldIsUpdate(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var a, b Tracker
	for i := range 5000 {
		x := r.Float64() * r.Float64()
		if i%500 == 499 {
			x = 1
		}
		want := b.Surprise(b.Next(x, &params), &params)
		if got := a.Update(x, &params); got != want {
			t.Fatalf("point %d: Update = %v, Surprise(Next) = %v", i, got, want)
		}
		b.Fold(x, &params)
		if a != b {
			t.Fatalf("point %d: Update left %+v, Fold %+v", i, a, b)
		}
	}
}

// TestSurpriseTable: the surprise of a short mean within 8 sigmas (from
// stream.Surprise's table) is -log10 of its upper normal tail to 1e-9.
func TestSurpriseTable(t *testing.T) {
	p := Params{ShortRate: 0.4, LongRate: 0.001, MinMean: 0.03, MinVar: 0.0003}
	tr := Tracker{Mean: 0.03, Var: 0.0003, N: 100}
	mean := max(float64(tr.Mean), p.MinMean)
	sd := math.Sqrt(max(float64(tr.Var), p.MinVar))
	for z := 0.001; z < 12; z += 0.0137 {
		short := mean + z*sd
		got := tr.Surprise(short, &p)
		zz := (short - mean) / sd
		want := -math.Log10(0.5 * math.Erfc(zz/math.Sqrt2))
		if math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Fatalf("z %v: surprise %v, want %v", z, got, want)
		}
	}
}
