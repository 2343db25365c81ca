package models

import (
	"errors"
	"math"
)

// MaxValue is the largest magnitude of a value the model learns. Parts of
// the model are float32 (scales, the daily profile, the novelty ranges,
// the compact last verdict), whose largest finite value is about 3.4e38;
// residuals are differences of two values, and sums of a few of them are
// kept. 1e30 leaves eight orders of magnitude of room, so that no update
// from a value within ±MaxValue can overflow. Callers reject values
// outside it (anomaly.CodeValueRange); the model itself scores them
// without learning them, as it does non-finite values.
const MaxValue = 1e30

// ValueInRange reports whether v is a finite value of magnitude at most
// MaxValue: a value the model can learn. NaN is out of range.
func ValueInRange(v float64) bool { return v >= -MaxValue && v <= MaxValue }

// ErrNonFinite is wrapped by Check when a model holds a non-finite field.
var ErrNonFinite = errors.New("models: non-finite state")

// Check reports whether m is a state the model can reach: every field
// finite, the scales non-negative, the flags and enums known. It is exactly
// the test UnmarshalBinary applies, so a model that fails it must not be
// written to a snapshot: it could not be read back. The error wraps
// ErrEncoding. Check makes no allocations.
func (m *Model) Check() error {
	var buf [checkBuf]byte
	var x Model
	return x.UnmarshalBinary(m.AppendBinary(buf[:0]))
}

// clamp32 converts x to float32, mapping values beyond the float32 range
// to its largest finite value and NaN to 0.
func clamp32(x float64) float32 {
	switch {
	case math.IsNaN(x):
		return 0
	case x > math.MaxFloat32:
		return math.MaxFloat32
	case x < -math.MaxFloat32:
		return -math.MaxFloat32
	}
	return float32(x)
}

// checkBuf is the stack buffer Check encodes into; TestCheckBuffer keeps it
// above the encoding's size.
const checkBuf = 1024
