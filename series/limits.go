package series

import (
	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// MaxKeyLenBound is the largest Limits.MaxKeyLen the engine takes: a slot
// keeps its key's length in 16 bits (and a snapshot record holds a key of
// at most 65,536 bytes, snapshot.MaxKeyBytes).
const MaxKeyLenBound = 1<<16 - 1

// valueRangeError is the error of a finite value beyond ±models.MaxValue.
func valueRangeError(i int, v float64) *anomaly.Error {
	return anomaly.FieldError(anomaly.CodeValueRange, i, "value",
		"value %g is beyond ±%g, the largest magnitude a model learns", v, models.MaxValue)
}
