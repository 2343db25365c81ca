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
// ErrEncoding. Check allocates the encoding's buffer; CheckWith reuses the
// caller's.
func (m *Model) Check() error {
	_, err := m.CheckWith(nil)
	return err
}

// CheckWith is Check with the encoding written over scratch, which it
// returns (grown when it was too short) for the next call. It makes no
// allocation once scratch holds an encoding, so that an export checking
// every series makes no garbage: with a buffer of its own per call, a
// snapshot of a million series made a gigabyte of it (the encoder's
// appends move a stack buffer to the heap), and the collector ran fifty
// times in the snapshot's two seconds.
func (m *Model) CheckWith(scratch []byte) ([]byte, error) {
	var x Model
	b := m.AppendBinary(scratch[:0])
	return b, x.UnmarshalBinary(b)
}

// clamp32 converts x to float32, mapping values beyond the float32 range
// to its largest finite value and NaN to 0.
func clamp32(x float64) float32 {
	switch {
	case x >= -math.MaxFloat32 && x <= math.MaxFloat32:
		return float32(x) // the common case first, in two compares
	case x > math.MaxFloat32:
		return math.MaxFloat32
	case x < -math.MaxFloat32:
		return -math.MaxFloat32
	}
	return 0 // NaN
}
