package fmath

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAgreesWithBuiltins compares Max and Min with the builtins on
// random, special and equal operands: the same value, bit for bit, except
// for the sign of a zero when both operands are zeros.
func TestAgreesWithBuiltins(t *testing.T) {
	special := []float64{0, math.Copysign(0, -1), 1, -1, 1e-310, -1e-310, math.MaxFloat64, -math.MaxFloat64,
		math.Inf(1), math.Inf(-1), math.NaN(), 3.5, -2.25}
	r := rand.New(rand.NewPCG(1, 2))
	vals := append([]float64(nil), special...)
	for range 200 {
		vals = append(vals, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(40)-20)))
	}
	same := func(x, y float64) bool {
		return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
	}
	for _, a := range vals {
		for _, b := range vals {
			zeros := a == 0 && b == 0
			if got, want := Max(a, b), max(a, b); !same(got, want) && !(zeros && got == 0) {
				t.Errorf("Max(%v, %v) = %v, want %v", a, b, got, want)
			}
			if got, want := Min(a, b), min(a, b); !same(got, want) && !(zeros && got == 0) {
				t.Errorf("Min(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
	// NaN on either side gives NaN.
	for _, x := range special {
		for _, f := range []func(a, b float64) float64{Max, Min} {
			if !math.IsNaN(f(x, math.NaN())) || !math.IsNaN(f(math.NaN(), x)) {
				t.Errorf("a NaN operand with %v did not give NaN", x)
			}
		}
	}
}
