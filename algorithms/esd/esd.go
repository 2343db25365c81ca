// Package esd implements the generalized extreme Studentized deviate (ESD)
// test for up to r outliers in a univariate sample (Rosner 1983), in its
// classical form (mean and standard deviation) and in the hybrid form of
// Twitter's S-H-ESD (median and MAD), which stays reliable when many points
// are outliers.
//
// For i = 1..r the test removes, one at a time, the point farthest from the
// centre of the points that remain, and records
//
//	Rᵢ = max |xⱼ - c| / s         over the n-i+1 remaining points,
//
// where (c, s) is the mean and the sample standard deviation (classical) or
// the median and MADToSigma·MAD (hybrid). The number of outliers is the
// largest i with Rᵢ > λᵢ, where
//
//	λᵢ = (n-i)·t(p, n-i-1) / sqrt((n-i-1 + t(p, n-i-1)²)·(n-i+1)),
//	p  = 1 - α / (2·(n-i+1)),
//
// and t(p, ν) is the p-quantile of Student's t distribution with ν degrees of
// freedom (two-sided test). The test assumes the non-outlying points are
// roughly Gaussian.
//
// Everything here is deterministic and allocation-free given a reused Work
// and Result; a Work must not be shared between goroutines.
package esd

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/anomalyd/detector/algorithms/robust"
)

// Estimator selects the centre and scale of the remaining points.
type Estimator uint8

const (
	// MeanSD is Rosner's classical test: mean and sample standard deviation
	// (denominator m-1).
	MeanSD Estimator = iota
	// MedianMAD is the hybrid test of S-H-ESD: median and MADToSigma·MAD.
	// When more than half of the remaining points share the median (MAD = 0)
	// the scale falls back to MeanAbsToSigma·mean|x - median|.
	MedianMAD
)

// Config parameterises a test.
type Config struct {
	// MaxOutliers is r, the upper bound on the number of outliers:
	// 1 <= r <= n-2.
	MaxOutliers int
	// Alpha is the significance level of the whole procedure, in (0, 1);
	// 0.05 is usual.
	Alpha     float64
	Estimator Estimator
}

// Result is the outcome of a test. Its slices are reused by Test.
type Result struct {
	// Outliers is the number of outliers found: the largest i with
	// Rᵢ > λᵢ, or 0.
	Outliers int
	// Index[i] is the index into x of the point removed at step i+1, so
	// Index[:Outliers] are the outliers, the most extreme first.
	Index []int
	// Stat[i] is R at step i+1.
	Stat []float64
	// Crit[i] is λ at step i+1 where the decision needed it, NaN elsewhere
	// (the quantiles of Student's t are costly; Critical gives any of them).
	Crit []float64
}

// OutlierIndices returns the indices into x of the outliers, most extreme
// first. The slice aliases r.Index.
func (r *Result) OutlierIndices() []int { return r.Index[:r.Outliers] }

// Work holds the scratch memory of Test; the zero value is ready to use and
// grows as needed.
type Work struct {
	pairs  []pair
	sorted []float64
	prefix []float64 // prefix[i] = Σ sorted[:i], built only when needed
}

type pair struct {
	v float64
	i int
}

// Critical returns λᵢ, the critical value of step i (1-based) of a
// generalized ESD test on n points at significance level alpha. It requires
// 1 <= i <= n-2. λᵢ decreases as i grows.
func Critical(n, i int, alpha float64) float64 {
	m := float64(n - i + 1) // points remaining before the removal
	nu := m - 2
	p := 1 - alpha/(2*m)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}.Quantile(p)
	return (m - 1) * t / math.Sqrt((nu+t*t)*m)
}

// Test runs the generalized ESD test on x and stores the outcome in res.
// x is not modified. It returns an error when the configuration does not fit
// the sample; x must hold finite values only.
func Test(res *Result, x []float64, cfg Config, w *Work) error {
	n := len(x)
	r := cfg.MaxOutliers
	switch {
	case n < 3:
		return fmt.Errorf("esd: need at least 3 points, got %d", n)
	case r < 1 || r > n-2:
		return fmt.Errorf("esd: max outliers %d outside [1, %d] for %d points", r, n-2, n)
	case !(cfg.Alpha > 0 && cfg.Alpha < 1):
		return fmt.Errorf("esd: alpha %v outside (0, 1)", cfg.Alpha)
	case cfg.Estimator > MedianMAD:
		return errors.New("esd: unknown estimator")
	}
	if w == nil {
		w = new(Work)
	}
	w.pairs = slices.Grow(w.pairs[:0], n)[:n]
	for i, v := range x {
		w.pairs[i] = pair{v, i}
	}
	slices.SortFunc(w.pairs, func(a, b pair) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return a.i - b.i
	})
	w.sorted = slices.Grow(w.sorted[:0], n)[:n]
	for i, p := range w.pairs {
		w.sorted[i] = p.v
	}
	w.prefix = w.prefix[:0]

	res.Outliers = 0
	res.Index = slices.Grow(res.Index[:0], r)[:r]
	res.Stat = slices.Grow(res.Stat[:0], r)[:r]
	res.Crit = slices.Grow(res.Crit[:0], r)[:r]

	// The point farthest from any centre of the remaining points is the
	// smallest or the largest of them, so the remaining points are always
	// the sorted range s[lo:hi] and each step costs O(1) (MeanSD) or
	// O(log n) (MedianMAD).
	s := w.sorted
	lo, hi := 0, n
	var shift, sum, sumsq float64
	if cfg.Estimator == MeanSD {
		shift = s[n/2] // sums of shifted values lose less to cancellation
		for _, v := range s {
			d := v - shift
			sum += d
			sumsq += d * d
		}
	}
	for step := range r {
		m := hi - lo
		var c, scale float64
		if cfg.Estimator == MeanSD {
			mean := sum / float64(m)
			c = shift + mean
			scale = math.Sqrt(math.Max(sumsq-float64(m)*mean*mean, 0) / float64(m-1))
		} else {
			c, scale = w.medianScale(lo, hi)
		}
		dlo, dhi := c-s[lo], s[hi-1]-c
		var dev float64
		var at int
		if dhi >= dlo {
			dev, at = dhi, hi-1
			hi--
		} else {
			dev, at = dlo, lo
			lo++
		}
		if cfg.Estimator == MeanSD {
			d := s[at] - shift
			sum -= d
			sumsq -= d * d
		}
		res.Index[step] = w.pairs[at].i
		res.Stat[step] = ratio(dev, scale)
		res.Crit[step] = math.NaN()
	}

	// λᵢ decreases with i, so λ_r <= λᵢ <= λ_1: a statistic above λ_1 is
	// significant and one at or below λ_r is not, without computing λᵢ.
	l1 := Critical(n, 1, cfg.Alpha)
	lr := Critical(n, r, cfg.Alpha)
	res.Crit[0], res.Crit[r-1] = l1, lr
	for i := r; i >= 1; i-- {
		st := res.Stat[i-1]
		if st <= lr {
			continue
		}
		if st > l1 {
			res.Outliers = i
			break
		}
		if math.IsNaN(res.Crit[i-1]) {
			res.Crit[i-1] = Critical(n, i, cfg.Alpha)
		}
		if st > res.Crit[i-1] {
			res.Outliers = i
			break
		}
	}
	return nil
}

// ratio returns dev/scale with 0/0 = 0 and dev/0 = +Inf.
func ratio(dev, scale float64) float64 {
	if scale > 0 {
		return dev / scale
	}
	if dev > 0 {
		return math.Inf(1)
	}
	return 0
}

// medianScale returns the median of s[lo:hi] and its MADToSigma·MAD, or the
// mean-absolute-deviation fallback when the MAD is 0.
func (w *Work) medianScale(lo, hi int) (c, scale float64) {
	s := w.sorted
	c = robust.MedianSorted(s[lo:hi])
	// Deviations below and above c form two ascending sequences:
	// a(i) = c - s[p-1-i] for i < p-lo and b(j) = s[p+j] - c for j < hi-p.
	p := lo + sort.SearchFloat64s(s[lo:hi], c)
	m := hi - lo
	mad := w.kthDev(lo, hi, p, c, m/2)
	if m%2 == 0 {
		mad = (mad + w.kthDev(lo, hi, p, c, m/2-1)) / 2
	}
	if mad > 0 {
		return c, robust.MADToSigma * mad
	}
	if len(w.prefix) == 0 {
		w.prefix = slices.Grow(w.prefix, len(s)+1)[:len(s)+1]
		w.prefix[0] = 0
		for i, v := range s {
			w.prefix[i+1] = w.prefix[i] + v
		}
	}
	below := c*float64(p-lo) - (w.prefix[p] - w.prefix[lo])
	above := (w.prefix[hi] - w.prefix[p]) - c*float64(hi-p)
	return c, robust.MeanAbsToSigma * math.Max(below+above, 0) / float64(m)
}

// kthDev returns the k-th smallest (0-based) of |s[j] - c| over j in
// [lo, hi), where s[lo:p] < c <= s[p:hi], by binary search over how many of
// the k+1 smallest come from below c.
func (w *Work) kthDev(lo, hi, p int, c float64, k int) float64 {
	s := w.sorted
	na, nb := p-lo, hi-p
	a := func(i int) float64 { return c - s[p-1-i] }
	b := func(j int) float64 { return s[p+j] - c }
	tlo, thi := max(0, k+1-nb), min(k+1, na)
	for tlo < thi {
		t := int(uint(tlo+thi) >> 1)
		if a(t) < b(k-t) {
			tlo = t + 1
		} else {
			thi = t
		}
	}
	t := tlo
	v := math.Inf(-1)
	if t > 0 {
		v = a(t - 1)
	}
	if k-t >= 0 {
		v = math.Max(v, b(k-t))
	}
	return v
}
