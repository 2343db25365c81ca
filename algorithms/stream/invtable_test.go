package stream

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestFarInvSurpriseTable: the table of InvSurprise's far branch agrees
// with the Newton steps it tabulates to 1e-10 (relative) over the whole
// range, at the ends and between nodes.
func TestFarInvSurpriseTable(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	worst := 0.0
	check := func(s float64) {
		want := invTailLog(-math.Ln10*s - math.Ln2)
		got := InvSurprise(s)
		if e := math.Abs(got-want) / want; e > worst {
			worst = e
		}
	}
	for _, s := range []float64{invTailLogS, math.Nextafter(300, 0), 300, 12, 50, 299.99} {
		check(s)
	}
	for range 200000 {
		check(invTailLogS + r.Float64()*(300-invTailLogS))
	}
	if worst > 1e-10 {
		t.Errorf("table differs from the Newton steps by %.3g (relative), want at most 1e-10", worst)
	}
	// Surprise inverts it: Surprise(InvSurprise(s)) is s to the accuracy
	// of the asymptotic tail.
	for _, s := range []float64{12, 30, 100, 299} {
		if got := Surprise(InvSurprise(s)); math.Abs(got-s) > 1e-4*s {
			t.Errorf("Surprise(InvSurprise(%v)) = %v", s, got)
		}
	}
}

func BenchmarkInvSurprise(b *testing.B) {
	var sum float64
	for i := range b.N {
		sum += InvSurprise(12 + float64(i%1000)*0.2)
	}
	_ = sum
}

// TestNearSurpriseTable: Surprise below nearZMax agrees with -log10 of
// the two-sided tail to 1e-9, and is continuous at nearZMax.
func TestNearSurpriseTable(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	worst := 0.0
	check := func(z float64) {
		want := -math.Log10(math.Erfc(math.Abs(z) / math.Sqrt2))
		if e := math.Abs(Surprise(z) - want); e > worst {
			worst = e
		}
	}
	for _, z := range []float64{0, -0.0, 1e-300, 1.0 / 128, -3, math.Nextafter(nearZMax, 0), nearZMax} {
		check(z)
	}
	for range 200000 {
		check((r.Float64()*2 - 1) * nearZMax)
	}
	if worst > 1e-9 {
		t.Errorf("table differs from -log10(erfc) by %.3g, want at most 1e-9", worst)
	}
	if Surprise(math.NaN()) != 0 {
		t.Error("Surprise(NaN) != 0")
	}
}

// TestMidInvSurpriseTable: InvSurprise on [1, 11.699) inverts Surprise to
// within 1e-8 (relative), and stays within 6e-7 of Erfinv's form.
func TestMidInvSurpriseTable(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var worstExact, worstErfinv float64
	for i := range 100000 {
		s := midS0 + r.Float64()*(midS1-midS0)
		if i == 0 {
			s = midS0
		}
		got := InvSurprise(s)
		want := exactInvSurprise(s)
		worstExact = max(worstExact, math.Abs(got-want)/want)
		old := InvTail(0.5 * math.Exp(-math.Ln10*s))
		worstErfinv = max(worstErfinv, math.Abs(got-old)/old)
		if back := Surprise(got); math.Abs(back-s) > 1e-7*s {
			t.Fatalf("Surprise(InvSurprise(%v)) = %v", s, back)
		}
	}
	if worstExact > 1e-8 || worstErfinv > 6e-7 {
		t.Errorf("table: %.3g from the exact inverse (want 1e-8), %.3g from Erfinv's (want 6e-7)", worstExact, worstErfinv)
	}
}
