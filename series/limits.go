package series

import (
	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// valueRangeError is the error of a finite value beyond ±models.MaxValue.
func valueRangeError(i int, v float64) *anomaly.Error {
	return anomaly.FieldError(anomaly.CodeValueRange, i, "value",
		"value %g is beyond ±%g, the largest magnitude a model learns", v, models.MaxValue)
}
