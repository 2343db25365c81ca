package models

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

// TestCheckWithReusesScratch: CheckWith returns the model's encoding in
// the caller's buffer and, once that buffer holds one, allocates nothing
// (an export checks every series with one buffer).
func TestCheckWithReusesScratch(t *testing.T) {
	c := DefaultConfig()
	var m Model
	for i := range 500 {
		m.Update(&c, int64(i)*60_000, 100+float64(i%7))
	}
	scratch, err := m.CheckWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := m.AppendBinary(nil); !bytes.Equal(scratch, want) {
		t.Fatalf("CheckWith returned %d bytes, not the model's %d-byte encoding", len(scratch), len(want))
	}
	allocs := testing.AllocsPerRun(100, func() {
		if scratch, err = m.CheckWith(scratch); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("CheckWith allocates %v times with a reused buffer, want 0", allocs)
	}
	m.fast = math.NaN()
	if _, err := m.CheckWith(scratch); !errors.Is(err, ErrEncoding) {
		t.Errorf("CheckWith with a NaN level = %v, want ErrEncoding", err)
	}
}

func TestValueInRange(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want bool
	}{
		{0, true}, {1, true}, {-MaxValue, true}, {MaxValue, true}, {5e-324, true},
		{math.Nextafter(MaxValue, math.Inf(1)), false}, {-1e41, false}, {math.MaxFloat64, false},
		{math.Inf(1), false}, {math.Inf(-1), false}, {math.NaN(), false},
	} {
		if got := ValueInRange(tc.v); got != tc.want {
			t.Errorf("ValueInRange(%g) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

// extreme draws a value from a mix meant to break the arithmetic: ordinary
// values, the range's edges, tiny and subnormal values, zero, and values
// beyond the range (never learned).
func extreme(r *rand.Rand) float64 {
	sign := float64(1 - 2*r.IntN(2))
	switch r.IntN(10) {
	case 0:
		return sign * MaxValue
	case 1:
		return sign * MaxValue * r.Float64()
	case 2:
		return sign * math.Pow(10, float64(r.IntN(61)-30)) // 1e-30 .. 1e30
	case 3:
		return sign * 5e-324 * float64(r.IntN(4))
	case 4:
		return sign * []float64{1e31, 1e41, 3.5e38, math.MaxFloat64}[r.IntN(4)]
	case 5:
		return 0
	default:
		return 10 + r.NormFloat64()
	}
}

func resultFinite(r Result) bool {
	for _, f := range []float64{r.Expected, r.Lower, r.Upper, r.Score, r.Z} {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return r.Score >= 0 && r.Score <= 1
}

// TestUpdateStaysFinite is a property test: whatever finite values a model
// is fed, in whatever order, every update leaves a state that Check (and so
// a snapshot) accepts, and every verdict, Peek and Last are finite.
func TestUpdateStaysFinite(t *testing.T) {
	c := DefaultConfig()
	seeds, points := 200, 600
	if testing.Short() {
		seeds = 40
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 9))
		var m Model
		ts := int64(1_700_000_000_000)
		// A history of ordinary points first in half the runs.
		hist := 0
		if seed%2 == 0 {
			hist = 200
		}
		for i := range points {
			ts += int64(1 + r.IntN(600_000))
			if r.IntN(50) == 0 {
				ts += int64(r.IntN(30)) * dayMs // gaps
			}
			v := 10 + r.NormFloat64()
			if i >= hist {
				v = extreme(r)
			}
			res := m.Update(&c, ts, v)
			if !resultFinite(res) {
				t.Fatalf("seed %d point %d: Update(%g) = %+v, not finite", seed, i, v, res)
			}
			if res.Learned && !ValueInRange(v) {
				t.Fatalf("seed %d point %d: learned %g, beyond MaxValue", seed, i, v)
			}
			if err := m.Check(); err != nil {
				t.Fatalf("seed %d point %d: after Update(%g): Check() = %v", seed, i, v, err)
			}
			if p := m.Peek(&c, ts+1, extreme(r)); !resultFinite(p) {
				t.Fatalf("seed %d point %d: Peek = %+v, not finite", seed, i, p)
			}
			if _, lv, lr := m.Last(); math.IsInf(lv, 0) || math.IsNaN(lv) || !resultFinite(lr) {
				t.Fatalf("seed %d point %d: Last = %g %+v, not finite", seed, i, lv, lr)
			}
		}
	}
}

// TestExtremePointKeepsAlerting: a series with history that gets one point
// at the edge of the range stays readable and still flags a plain anomaly
// afterwards.
func TestExtremePointKeepsAlerting(t *testing.T) {
	c := DefaultConfig()
	for _, extremeV := range []float64{MaxValue, -MaxValue, 1e41, math.MaxFloat64} {
		r := rand.New(rand.NewPCG(1, 2))
		var m Model
		ts := int64(1_700_000_000_000)
		for range 1000 {
			ts += 60_000
			m.Update(&c, ts, 10+r.NormFloat64())
		}
		ts += 60_000
		if res := m.Update(&c, ts, extremeV); res.State != anomaly.StateAnomalous && ValueInRange(extremeV) {
			t.Errorf("%g: the extreme point is %v, want anomalous", extremeV, res.State)
		}
		for range 300 {
			ts += 60_000
			m.Update(&c, ts, 10+r.NormFloat64())
		}
		if err := m.Check(); err != nil {
			t.Fatalf("%g: Check() = %v", extremeV, err)
		}
		var back Model
		if err := back.UnmarshalBinary(m.AppendBinary(nil)); err != nil {
			t.Fatalf("%g: the model does not read back: %v", extremeV, err)
		}
		ts += 60_000
		res := m.Update(&c, ts, 60)
		if res.State != anomaly.StateAnomalous {
			t.Errorf("%g: a plain spike after the extreme point is %v (score %.3f, bounds %g..%g), want anomalous",
				extremeV, res.State, res.Score, res.Lower, res.Upper)
		}
		if res.Upper > 1000 {
			t.Errorf("%g: upper bound %g after recovery: the extreme point still dominates", extremeV, res.Upper)
		}
	}
}

func TestCheckRejectsNonFinite(t *testing.T) {
	var m Model
	c := DefaultConfig()
	m.Update(&c, 1000, 1)
	m.Update(&c, 2000, 2)
	m.fast = math.Inf(1)
	if err := m.Check(); !errors.Is(err, ErrEncoding) {
		t.Errorf("Check() with an infinite level = %v, want ErrEncoding", err)
	}
	m.fast = 1
	m.last.Z = float32(math.Inf(-1))
	if err := m.Check(); err == nil {
		t.Error("Check() with an infinite last z = nil, want an error")
	}
}
