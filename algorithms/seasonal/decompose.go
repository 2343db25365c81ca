package seasonal

import (
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
// Seasonal profile, when period > 0 (period >= 2, len(x) >= 2·period):
//
//	c[k]       = median(x[k-⌊P/2⌋ .. k-⌊P/2⌋+P-1])     centred, one cycle long
//	Profile[φ] = median{ x[k] - c[k] : k mod P ∈ [φ-h, φ+h] (cyclic) },
//
// then minus the median of Profile. A cycle-long window holds one value of
// every phase, so c follows the level but not the cycle; the median over
// cycles ignores a bad day. h (see phaseHalfWidth) pools neighbouring
// phases until about MinPhaseSamples values enter each median.
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
		h := phaseHalfWidth(n, period)
		buf = w.scratch(max(n, (2*h+1)*(n/period+1)))
		for ph := range period {
			vals := buf[:0]
			for dp := -h; dp <= h; dp++ {
				q := ph + dp
				if q < 0 || q >= period {
					// Neighbouring phases wrap around the cycle.
					q = (q + period) % period
				}
				for k := q; k < n; k += period {
					vals = append(vals, detr[k])
				}
			}
			d.Profile[ph] = robust.Median(vals, vals)
		}
		mid := robust.Median(d.Profile, buf)
		for ph := range d.Profile {
			d.Profile[ph] -= mid
		}
		for k := range n {
			d.Seasonal[k] = d.Profile[k%period]
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

// MinPhaseSamples is the number of values the seasonal profile aims to take
// the median of at each phase; see phaseHalfWidth.
const MinPhaseSamples = 64

// phaseHalfWidth returns h, the number of neighbouring phases on each side
// pooled into each phase's median: the smallest h with (2h+1)·cycles >=
// MinPhaseSamples, at most period/48 (30 minutes of a daily cycle) so that
// the profile keeps its shape. Pooling matters beyond noise: a median of
// few values sits close to each of them, which shrinks the residuals' MAD
// and makes ordinary points look extreme.
func phaseHalfWidth(n, period int) int {
	cycles := max(n/period, 1)
	h := 0
	for (2*h+1)*cycles < MinPhaseSamples {
		h++
	}
	return min(h, period/48)
}
