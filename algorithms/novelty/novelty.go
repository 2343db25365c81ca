// Package novelty holds streaming novelty detectors for one metric series:
// small, fixed-size, pointer-free state updated one point at a time, with
// no allocation and no history, so that millions of series fit in flat
// slices.
//
// The central idea is spatial novelty: a point is surprising when it leaves
// the range of everything the series has shown so far. Such records are
// rare by construction (for a stationary series the chance that point n is
// a new maximum falls as 1/n), so the test calibrates itself to every
// series without a learned scale, and it fires at the first point of an
// excursion, which is the point that matters to an operator. The range is
// tracked for the raw value and for an exponentially smoothed value (which
// sees sustained shifts that single points in a noisy series do not), and
// the score grows with how far beyond the range the point lies, in units of
// the range's width.
//
// Nothing here is safe for concurrent use; callers own their detectors.
package novelty

import "math"

// Config holds the parameters of a Detector. The zero value is not useful;
// start from DefaultConfig. One Config is shared by any number of detectors.
type Config struct {
	// Warmup is the number of points observed before any score is given;
	// the ranges are learned during it.
	Warmup int
	// Tolerance is how far (as a fraction of the range's width) a raw value
	// must lie beyond the range before it counts as novel.
	Tolerance float64
	// SmoothRate is the rate of the exponentially smoothed value (0.2 is
	// about a 5-point memory).
	SmoothRate float64
	// SmoothTolerance is Tolerance for the smoothed value.
	SmoothTolerance float64
	// Scale sets how fast the score rises with the excess beyond the
	// tolerance: score = 0.5 + 0.5*(1 - exp(-excess/Scale)), excess in
	// units of the range's width.
	Scale float64
	// Quiet is the number of points after a novel point during which the
	// score is 0 (the ranges still learn), so that one excursion gives one
	// alert rather than a burst.
	Quiet int
}

// DefaultConfig returns the configuration measured best on the NAB corpus
// (see RESULTS.md).
func DefaultConfig() Config {
	return Config{
		Warmup:          150,
		Tolerance:       0,
		SmoothRate:      0.2,
		SmoothTolerance: 0.05,
		Scale:           0.1,
		Quiet:           10,
	}
}

// Threshold is the score at and above which a point should be called
// anomalous: any point that is novel at all scores at least 0.5, and the
// NAB threshold sweep settles just above it.
const Threshold = 0.52

// Range is the running [Lo, Hi] of a feature.
type Range struct {
	Lo, Hi float64
}

// Excess returns how far x lies outside r, in units of r's width, or 0 when
// x is inside r or r has no width yet.
func (r Range) Excess(x float64) float64 {
	w := r.Hi - r.Lo
	if !(w > 0) {
		return 0
	}
	switch {
	case x > r.Hi:
		return (x - r.Hi) / w
	case x < r.Lo:
		return (r.Lo - x) / w
	}
	return 0
}

// Include widens r to contain x.
func (r *Range) Include(x float64) {
	r.Lo = math.Min(r.Lo, x)
	r.Hi = math.Max(r.Hi, x)
}

// Detector scores the spatial novelty of a series' raw and smoothed values.
// Its zero value is ready to use. It is 48 bytes and pointer-free.
type Detector struct {
	raw, smooth Range
	level       float64 // exponentially smoothed value
	n           uint32  // points seen (saturating)
	quiet       int32   // points of silence left
}

// Update folds the point (tsMs, Unix milliseconds, is unused by this
// detector; v the value) into d and returns its anomaly score in [0, 1]:
// 0 when the point is within the ranges learned so far, and
// 0.5 + 0.5*(1-exp(-e/cfg.Scale)) when the raw value lies e beyond
// cfg.Tolerance or the smoothed value e beyond cfg.SmoothTolerance (the
// larger of the two). Non-finite values are ignored and score 0.
func (d *Detector) Update(cfg *Config, tsMs int64, v float64) float64 {
	_ = tsMs
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if d.n < math.MaxUint32 {
		d.n++
	}
	if d.n == 1 {
		d.raw = Range{v, v}
		d.level = v
		return 0
	}
	d.level += cfg.SmoothRate * (v - d.level)
	// The smoothed value starts at the first point and needs about
	// 4/SmoothRate points to forget it; its range starts after that.
	settle := int64(math.MaxInt32) // no smoothed range without a rate
	if cfg.SmoothRate > 0 && cfg.SmoothRate <= 1 {
		settle = int64(math.Ceil(4 / cfg.SmoothRate))
	}
	e := 0.0
	if int64(d.n) > int64(cfg.Warmup) {
		e = d.raw.Excess(v) - cfg.Tolerance
		if int64(d.n) > settle+1 {
			e = math.Max(e, d.smooth.Excess(d.level)-cfg.SmoothTolerance)
		}
	}
	d.raw.Include(v)
	switch {
	case int64(d.n) == settle+1:
		d.smooth = Range{d.level, d.level}
	case int64(d.n) > settle+1:
		d.smooth.Include(d.level)
	}
	if d.quiet > 0 {
		d.quiet--
		return 0
	}
	if e <= 0 {
		return 0
	}
	d.quiet = int32(cfg.Quiet)
	return 0.5 + 0.5*(1-math.Exp(-e/cfg.Scale))
}
