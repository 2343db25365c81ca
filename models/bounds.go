package models

import (
	"math"

	"github.com/anomalyd/detector/anomaly"
)

// Bounds are user-set limits judged next to the learned baseline: a static
// floor and ceiling (DetectorStaticBound), or a ceiling that is a share of
// the latest value of a limit series (DetectorLimitRatio, as "alert at 80%
// of the hard limit"). A point below Min or above Max is anomalous with
// that detector, learned or not, even while the series is still learning.
//
// The band stays the verdict: [Lower, Upper] is the learned band clipped to
// [Min, Max]. When the learned band lies wholly beyond a bound (the series
// has been living above its ceiling), the clipped band would be empty; it
// is then the sliver of [Min, Max] next to the learned band, as wide as the
// learned band (at most the whole [Min, Max]), and a point in it is normal:
// there the user's bound wins over the learned one. Bounds never change
// what the model learns.
type Bounds struct {
	Min, Max float64 // -Inf / +Inf when unset; Min < Max
	Detector Detector
}

// UpdateBounded is Update with b judged next to the baseline (b may be nil).
func (m *Model) UpdateBounded(c *Config, tsMs int64, v float64, b *Bounds) Result {
	return m.update(c, tsMs, v, b)
}

// PeekBounded is Peek with b judged next to the baseline (b may be nil).
func (m *Model) PeekBounded(c *Config, tsMs int64, v float64, b *Bounds) Result {
	return m.peek(c, tsMs, v, b)
}

// apply clips r's band to b and judges v against it; it reports whether b
// was set.
func (b *Bounds) apply(c *Config, r *Result, v float64) bool {
	if b == nil {
		return false
	}
	lo, hi := math.Max(r.Lower, b.Min), math.Min(r.Upper, b.Max)
	if !(hi > lo) {
		w := math.Min(r.Upper-r.Lower, b.Max-b.Min)
		if !(w > 0) {
			w = b.Max - b.Min
		}
		if r.Lower >= b.Max {
			lo, hi = b.Max-w, b.Max
		} else {
			lo, hi = b.Min, b.Min+w
		}
		if !(hi > lo) {
			lo, hi = b.Min, b.Max
		}
	}
	bandAnomaly := r.State == anomaly.StateAnomalous && (v < r.Lower || v > r.Upper)
	r.Lower, r.Upper = lo, hi
	switch {
	case v < b.Min || v > b.Max:
		r.State, r.Detector = anomaly.StateAnomalous, b.Detector
		r.Score = math.Max(r.Score, c.Threshold+(1-c.Threshold)/2)
	case bandAnomaly && v >= lo && v <= hi:
		// inside the sliver: the user's bound wins
		r.State, r.Detector = anomaly.StateNormal, DetectorNone
		r.Score = math.Min(r.Score, belowThreshold*c.Threshold)
	}
	return true
}
