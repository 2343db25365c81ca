// Package robust holds order statistics for slices of float64: median,
// median absolute deviation, quantiles, selection and a sliding-window
// median. These estimators tolerate a large share of gross outliers (the
// median and the MAD have a breakdown point of 50%), which is why the
// detector uses them for levels and scales instead of the mean and the
// standard deviation.
//
// Functions never reorder or copy their input behind the caller's back: a
// function that needs to reorder values does so in a caller-owned work
// buffer, and says so. A work buffer whose capacity is too small is replaced
// by a fresh allocation, so passing nil is always correct, only slower in a
// loop. Inputs must not contain NaN; the results are unspecified otherwise
// (except for MovingMedian and MovingZ, the streaming forms of pandas'
// rolling median and rolling median/MAD z-score, which skip NaN and ±Inf as
// pandas does).
//
// Everything here is deterministic, allocation-free given large enough work
// buffers, and safe for concurrent use on distinct buffers.
package robust

import (
	"math"
	"math/bits"
	"slices"
)

// MADToSigma is the consistency constant that turns the median absolute
// deviation of Gaussian data into an estimate of its standard deviation:
//
//	sigma ≈ MADToSigma * MAD,   MADToSigma = 1/Φ⁻¹(3/4) ≈ 1.4826
const MADToSigma = 1.482602218505602

// MeanAbsToSigma turns the mean absolute deviation of Gaussian data into an
// estimate of its standard deviation: sigma ≈ sqrt(π/2) * mean|x - c|.
const MeanAbsToSigma = 1.2533141373155003

// grow returns work resliced to n elements, allocating when its capacity is
// too small.
func grow(work []float64, n int) []float64 {
	if cap(work) < n {
		return make([]float64, n)
	}
	return work[:n]
}

// Select reorders x so that x[k] is the element that would be at index k if x
// were sorted, every element before k is <= x[k] and every element after is
// >= x[k]; it returns x[k]. It modifies x. It runs in expected linear time
// (quickselect with a median-of-three pivot) and falls back to a full sort
// when partitioning degenerates, so its worst case is O(n log n).
// It panics if k is out of range.
func Select(x []float64, k int) float64 {
	if k < 0 || k >= len(x) {
		panic("robust: select index out of range")
	}
	lo, hi := 0, len(x)-1
	budget := 2 * bits.Len(uint(len(x)))
	for hi > lo {
		if budget == 0 {
			slices.Sort(x[lo : hi+1])
			return x[k]
		}
		budget--
		// Median of three as pivot, moved to x[hi].
		mid := lo + (hi-lo)/2
		if x[mid] < x[lo] {
			x[mid], x[lo] = x[lo], x[mid]
		}
		if x[hi] < x[lo] {
			x[hi], x[lo] = x[lo], x[hi]
		}
		if x[mid] < x[hi] {
			x[mid], x[hi] = x[hi], x[mid]
		}
		p := x[hi]
		// Three-way partition: [lo,lt) < p, [lt,gt] == p, (gt,hi] > p.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := x[i]; {
			case v < p:
				x[lt], x[i] = x[i], x[lt]
				lt++
				i++
			case v > p:
				x[gt], x[i] = x[i], x[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return x[k]
		}
	}
	return x[k]
}

// Median returns the sample median of x,
//
//	median(x) = x₍ₘ₎                        if n = 2m+1 is odd,
//	median(x) = (x₍ₘ₋₁₎ + x₍ₘ₎) / 2          if n = 2m is even,
//
// where x₍ᵢ₎ is the i-th smallest value (0-based). It returns NaN for an
// empty x. x is not modified; work is used as scratch (len(x) elements).
func Median(x, work []float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	w := grow(work, n)
	copy(w, x)
	return medianInPlace(w)
}

// medianInPlace returns the median of w, reordering it.
func medianInPlace(w []float64) float64 {
	n := len(w)
	m := n / 2
	hi := Select(w, m)
	if n%2 == 1 {
		return hi
	}
	// After Select, w[:m] holds the m smallest values: the lower middle is
	// their maximum.
	lo := w[0]
	for _, v := range w[1:m] {
		if v > lo {
			lo = v
		}
	}
	return lo + (hi-lo)/2
}

// MedianSorted returns the median of an ascending sorted slice, or NaN when
// it is empty.
func MedianSorted(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	lo, hi := sorted[n/2-1], sorted[n/2]
	return lo + (hi-lo)/2
}

// MAD returns the median absolute deviation of x about center c,
//
//	MAD(x; c) = median(|xᵢ - c|),
//
// unscaled: multiply by MADToSigma for a Gaussian-consistent scale. Use
// c = Median(x) for the usual estimator. It returns NaN for an empty x. x is
// not modified; work is used as scratch (len(x) elements).
func MAD(x []float64, c float64, work []float64) float64 {
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	w := grow(work, n)
	for i, v := range x {
		w[i] = math.Abs(v - c)
	}
	return medianInPlace(w)
}

// MedianMAD returns the median of x and the MAD of x about it (unscaled), in
// one call sharing the work buffer.
func MedianMAD(x, work []float64) (median, mad float64) {
	n := len(x)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	w := grow(work, n)
	copy(w, x)
	median = medianInPlace(w)
	return median, MAD(x, median, w)
}

// MeanAbsDev returns the mean absolute deviation of x about c,
//
//	D(x; c) = (1/n) Σ |xᵢ - c|,
//
// a fallback scale when more than half of the deviations are zero and the
// MAD collapses to 0. It returns NaN for an empty x.
func MeanAbsDev(x []float64, c float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	var s float64
	for _, v := range x {
		s += math.Abs(v - c)
	}
	return s / float64(len(x))
}

// Quantile returns the p-quantile of x (0 <= p <= 1) by linear
// interpolation between order statistics, Hyndman and Fan's definition 7
// (the default of R and NumPy):
//
//	h = (n-1)·p,  Q(p) = x₍⌊h⌋₎ + (h - ⌊h⌋)·(x₍⌊h⌋+1₎ - x₍⌊h⌋₎),
//
// so Q(0) is the minimum, Q(1) the maximum and Q(0.5) the median. It
// returns NaN for an empty x and panics if p is outside [0, 1]. x is not
// modified; work is used as scratch (len(x) elements).
func Quantile(p float64, x, work []float64) float64 {
	if !(p >= 0 && p <= 1) {
		panic("robust: quantile probability outside [0, 1]")
	}
	n := len(x)
	if n == 0 {
		return math.NaN()
	}
	w := grow(work, n)
	copy(w, x)
	h := float64(n-1) * p
	j := int(h)
	if j >= n-1 {
		return Select(w, n-1)
	}
	lo := Select(w, j)
	// w[j+1:] holds the values >= lo: the next order statistic is their minimum.
	hi := w[j+1]
	for _, v := range w[j+2:] {
		if v < hi {
			hi = v
		}
	}
	return lo + (h-float64(j))*(hi-lo)
}

// QuantileSorted is Quantile for an ascending sorted slice, without scratch.
func QuantileSorted(p float64, sorted []float64) float64 {
	if !(p >= 0 && p <= 1) {
		panic("robust: quantile probability outside [0, 1]")
	}
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	h := float64(n-1) * p
	j := int(h)
	if j >= n-1 {
		return sorted[n-1]
	}
	return sorted[j] + (h-float64(j))*(sorted[j+1]-sorted[j])
}
