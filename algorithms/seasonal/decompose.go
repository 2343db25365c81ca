package seasonal

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/anomalyd/detector/algorithms/robust"
)

// Decomposition splits a regular series x into
//
//	x[k] = Trend[k] + Seasonal[k] + Resid[k].
type Decomposition struct {
	Period int // cycle length in slots, 0 for none
	// Profile is the seasonal component over one cycle, Profile[k mod
	// Period] = Seasonal[k], centred so that its median is 0. Empty when
	// Period is 0.
	Profile                []float64
	Trend, Seasonal, Resid []float64
}

// Decompose splits x (regular and finite, see Regularize) with the given
// period in slots (0: no seasonal component) and a trend window of
// trendWindow slots, and stores the result in d, reusing its slices.
//
// Seasonal part, when period > 0 (period >= 2, len(x) >= 2·period):
//
//	c[k]        = median(x[k-⌊P/2⌋ .. k-⌊P/2⌋+P-1])     centred, one cycle long
//	Profile[φ]  = median{ x[j] - c[j] : j mod P = φ } - μ
//	Seasonal[k] = median{ x[j] - c[j] : j mod P = k mod P, j ≠ k } - μ
//
// with μ the median of the uncentred profile. A cycle-long window holds one
// value of every phase, so c follows the level but not the cycle; the
// median over cycles ignores a bad day. Seasonal leaves the slot's own value
// out of its phase's median: a median of a dozen values sits close to each
// of them, and in-sample residuals would have a shrunken MAD that makes
// ordinary points look extreme. Left out, the residuals are honest
// out-of-sample errors and their MAD estimates their spread. Sharp edges in
// the cycle (a daily on/off) are kept, which pooling neighbouring phases
// would blur.
//
// Trend, a trailing rolling median of the deseasonalised series over the
// trendWindow slots before k (the first trendWindow slots share the median
// of the first window):
//
//	Trend[k] = median(x[j] - Seasonal[j] : k-W <= j < k)
//
// Because the window ends before k, a step in the level shows in Resid at
// full height from its first point and for about W/2 points, until the
// median crosses over; a centred window would hide the step entirely.
// Single spikes and dips shorter than W/2 never move the trend.
func Decompose(d *Decomposition, x []float64, period, trendWindow int, w *Work) error {
	n := len(x)
	switch {
	case n == 0:
		return fmt.Errorf("seasonal: empty series")
	case period == 1 || period < 0:
		return fmt.Errorf("seasonal: period %d must be 0 or at least 2", period)
	case period > 0 && n < 2*period:
		return fmt.Errorf("seasonal: %d slots are fewer than 2 periods of %d", n, period)
	case trendWindow < 1:
		return fmt.Errorf("seasonal: trend window %d must be at least 1", trendWindow)
	}
	if w == nil {
		w = new(Work)
	}
	buf := w.scratch(n)
	d.Period = period
	d.Trend = slices.Grow(d.Trend[:0], n)[:n]
	d.Seasonal = slices.Grow(d.Seasonal[:0], n)[:n]
	d.Resid = slices.Grow(d.Resid[:0], n)[:n]
	d.Profile = slices.Grow(d.Profile[:0], period)[:period]
	if period == 0 {
		clear(d.Seasonal)
	} else {
		w.a = robust.RollingMedian(w.a, x, period, period/2, buf)
		detr := w.a
		for k, v := range x {
			detr[k] = v - detr[k]
		}
		// Per phase: sort the phase's values once; the profile is their
		// median and each slot's seasonal value the median of the others.
		cycles := (n + period - 1) / period
		w.idx = slices.Grow(w.idx[:0], cycles)[:cycles]
		for ph := range period {
			m := 0
			for k := ph; k < n; k += period {
				w.idx[m] = k
				m++
			}
			idx := w.idx[:m]
			slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(detr[a], detr[b]) })
			vals := buf[:m]
			for j, k := range idx {
				vals[j] = detr[k]
			}
			d.Profile[ph] = robust.MedianSorted(vals)
			for q, k := range idx {
				d.Seasonal[k] = medianWithout(vals, q)
			}
		}
		mid := robust.Median(d.Profile, buf)
		for ph := range d.Profile {
			d.Profile[ph] -= mid
		}
		for k := range n {
			d.Seasonal[k] -= mid
		}
	}
	// Deseasonalised series in Resid for now, then the trend over it.
	for k, v := range x {
		d.Resid[k] = v - d.Seasonal[k]
	}
	robust.RollingMedian(d.Trend, d.Resid, trendWindow, trendWindow, buf)
	for k := range n {
		d.Resid[k] -= d.Trend[k]
	}
	return nil
}

// medianWithout returns the median of the ascending slice s without s[q]
// (len(s) >= 2).
func medianWithout(s []float64, q int) float64 {
	m := len(s) - 1
	at := func(j int) float64 {
		if j >= q {
			return s[j+1]
		}
		return s[j]
	}
	if m%2 == 1 {
		return at(m / 2)
	}
	lo, hi := at(m/2-1), at(m/2)
	return lo + (hi-lo)/2
}
