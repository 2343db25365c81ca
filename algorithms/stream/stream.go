// Package stream holds one-pass robust estimators for metric streams. Each
// estimator is a small value type without pointers: it is updated in place,
// never allocates and keeps no history, so millions of them fit in flat
// slices. All rates are per observation and lie in (0, 1]; a rate a gives an
// exponential memory of about 1/a observations.
//
// Nothing here is safe for concurrent use; callers own their estimators.
package stream

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
)

// MADToSigma converts a median absolute deviation of Gaussian data to its
// standard deviation: sigma = 1.4826 * MAD.
const MADToSigma = 1.482602218505602

// Clip returns x limited to [-c, c] (c >= 0).
func Clip(x, c float64) float64 {
	if x > c {
		return c
	}
	if x < -c {
		return -c
	}
	return x
}

// Huber moves loc towards x by rate a, with the step's residual clipped to
// k*scale: loc + a*clip(x-loc, k*scale). It is the one-step form of an
// exponentially weighted Huber M-estimate of location: a single outlier moves
// the estimate by at most a*k*scale, whereas a persistent shift is followed.
func Huber(loc, x, scale, a, k float64) float64 {
	return loc + a*Clip(x-loc, k*scale)
}

// Median tracks a running median of |r| (a median absolute deviation when
// r are residuals) by multiplicative stochastic approximation:
//
//	m <- m * exp(+a)  if |r| > m
//	m <- m * exp(-a)  if |r| < m
//
// so m settles where half of the |r| lie above it, adapting by a factor e^a
// per observation (a doubling of volatility is followed in about ln2/a
// observations). It is bounded-influence: one outlier moves m by at most a
// factor e^a. Floor keeps m away from zero on constant stretches, where the
// median would otherwise decay to 0.
func Median(m, absr, a, floor float64) float64 {
	return MedianGrowth(m, absr, expSmall(a), floor)
}

// MedianGrowth is Median with the step factor g = Growth(a) computed by
// the caller: a tracker whose rate is fixed computes it once.
func MedianGrowth(m, absr, g, floor float64) float64 {
	if !(m > 0) {
		m = max(absr, floor) // a fresh or broken tracker starts at the point
	} else {
		// Whether |r| lies above or below m is a coin flip, which a
		// branch mispredicts half of the time: both steps are computed
		// and the right one picked by conditional moves of their bits
		// (the compiler turns a select of floats into a branch, of their
		// bits into a CMOV).
		r, up, down := math.Float64bits(m), math.Float64bits(m*g), math.Float64bits(m/g)
		if absr > m {
			r = up
		}
		if absr < m {
			r = down
		}
		m = math.Float64frombits(r)
	}
	if m < floor {
		m = floor
	}
	return m
}

// Growth returns the factor by which the multiplicative trackers (Median,
// Scale, Quantile) step at rate a: e^a by its series to the fifth power,
// the very value they compute on every observation from their rate.
func Growth(a float64) float64 { return expSmall(a) }

// expSmall returns e^a for 0 <= a <= 1 by its series to the fifth power
// (relative error below 1.5e-3 at a = 1, below 1e-9 at a = 0.05): the
// multiplicative trackers call it on every observation and need no more.
func expSmall(a float64) float64 {
	return 1 + a*(1+a/2*(1+a/3*(1+a/4*(1+a/5))))
}

// EWMA returns mean + a*(x-mean).
func EWMA(mean, x, a float64) float64 { return mean + a*(x-mean) }

// Moments is an exponentially weighted mean and variance.
type Moments struct {
	Mean, Var float64
}

// Update folds x in with rate a (West's exponentially weighted update).
func (m *Moments) Update(x, a float64) {
	d := x - m.Mean
	m.Mean += a * d
	m.Var = (1 - a) * (m.Var + a*d*d)
}

// Std returns the standard deviation.
func (m *Moments) Std() float64 { return math.Sqrt(m.Var) }

// NormalTail returns the upper tail probability P(Z > z) of a standard
// normal variable, accurate far into the tail (it uses erfc, not 1-cdf).
func NormalTail(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }

// Surprise returns -log10 of the two-sided normal tail probability of z,
// P(|Z| > |z|), capped at 300 so that it stays finite. 2 is about |z| = 2.6,
// 4 about |z| = 3.9, 6 about |z| = 5.1 and 9 about |z| = 6.1.
func Surprise(z float64) float64 {
	z = math.Abs(z)
	if z < nearZMax {
		return nearSurprise(z)
	}
	if math.IsNaN(z) {
		return 0
	}
	if z > 37 {
		// erfc underflows; use the asymptotic tail log10(phi(z)/z) * 2.
		ln := -z*z/2 - math.Log(z*math.Sqrt(2*math.Pi)) + math.Ln2
		return min(-ln/math.Ln10, 300)
	}
	p := math.Erfc(z / math.Sqrt2)
	if p <= 0 {
		return 300
	}
	return min(-math.Log10(p), 300)
}

// Scale is a robust scale estimate of residuals: a running median of |r|
// (see Median) and, as a floor for zero-inflated or heavily quantised
// series where that median collapses to 0, an exponentially weighted mean
// of |r|. Both are float32: a scale needs no more precision, and the pair
// fits in 8 bytes.
type Scale struct {
	Med, Mean float32
}

// MeanClip bounds the influence of one residual on Scale's mean: the
// residual folded into the mean is at most MeanClip times the larger of the
// current mean and median. A persistent rise of volatility is still
// followed (the mean may grow by a factor 1+b*(MeanClip-1) per
// observation), but one point of 1e30 in a series of unit noise no longer
// inflates the scale for thousands of points.
const MeanClip = 100

// Update folds in the absolute residual absr: the median moves by rate a
// (multiplicatively), the mean by rate b, with absr clipped to MeanClip
// times the current scale.
func (s *Scale) Update(absr, a, b float64) { s.UpdateGrowth(absr, expSmall(a), b) }

// UpdateGrowth is Update with the median's step factor g = Growth(a)
// computed by the caller.
func (s *Scale) UpdateGrowth(absr, g, b float64) {
	if s.Med == 0 && s.Mean == 0 {
		s.Med, s.Mean = float32(absr), float32(absr)
		return
	}
	if lim := MeanClip * fmath.Max(float64(s.Mean), float64(s.Med)); lim > 0 && absr > lim {
		absr = lim
	}
	s.Med = float32(MedianGrowth(float64(s.Med), absr, g, 0))
	s.Mean = float32(EWMA(float64(s.Mean), absr, b))
}

// Sigma returns the scale as a Gaussian standard deviation:
// max(MADToSigma*Med, meanFrac*1.2533*Mean, floor). For Gaussian residuals
// both estimates equal sigma; meanFrac (0..1) sets how far the median may
// fall below the mean before the mean takes over.
func (s Scale) Sigma(meanFrac, floor float64) float64 {
	return fmath.Max(fmath.Max(MADToSigma*float64(s.Med), meanFrac*sqrtHalfPi*float64(s.Mean)), floor)
}

// Unfloored is Sigma without a floor: max(Unfloored(f), floor) is exactly
// Sigma(f, floor), for a caller that needs the scale under two floors.
func (s Scale) Unfloored(meanFrac float64) float64 {
	return fmath.Max(MADToSigma*float64(s.Med), meanFrac*sqrtHalfPi*float64(s.Mean))
}

// sqrtHalfPi is E|Z| / sigma for a Gaussian: sigma = sqrt(pi/2) * mean |r|.
var sqrtHalfPi = math.Sqrt(math.Pi / 2)

// Quantile tracks the p-quantile of a positive stream by multiplicative
// stochastic approximation: q grows by a factor e^(eta*p) when x > q and
// shrinks by e^(-eta*(1-p)) otherwise, so that in equilibrium a fraction
// 1-p of the observations exceed q. A zero Quantile starts at min.
type Quantile struct {
	Q float32
}

// Update folds in x >= 0; q never falls below min > 0.
func (q *Quantile) Update(x, p, eta, min float64) {
	st := NewQuantileStep(p, eta)
	q.UpdateStep(x, &st, min)
}

// QuantileStep holds the step factors of a Quantile for one (p, eta):
// trackers that share them compute them once.
type QuantileStep struct {
	Up, Down float64 // Growth(eta*p), Growth(eta*(1-p))
}

// NewQuantileStep returns the step factors of the p-quantile at rate eta.
func NewQuantileStep(p, eta float64) QuantileStep {
	return QuantileStep{Up: expSmall(eta * p), Down: expSmall(eta * (1 - p))}
}

// UpdateStep is Update with the step factors st computed by the caller.
func (q *Quantile) UpdateStep(x float64, st *QuantileStep, min float64) {
	v := float64(q.Q)
	switch {
	case v <= 0:
		v = min
	case x > v:
		v *= st.Up
	default:
		v /= st.Down
	}
	if !(v >= min) {
		v = min
	}
	if v > math.MaxFloat32/2 {
		v = math.MaxFloat32 / 2
	}
	q.Q = float32(v)
}

// InvTail returns z with P(Z > z) = p for a standard normal Z, for p in
// (0, 0.5]; it stays accurate far into the tail (p down to 1e-300), where
// 1-p is no longer representable and erfinv-based forms give +Inf.
func InvTail(p float64) float64 {
	switch {
	case !(p > 0):
		return math.Inf(1)
	case p >= 0.5:
		return 0
	case p > 1e-12:
		return math.Sqrt2 * math.Erfinv(1-2*p)
	}
	return invTailLog(math.Log(p))
}

// invTailLog is InvTail for p <= 1e-12 given lp = ln p: Newton's method on
// log P(Z > z), with the asymptotic expansion P(Z > z) ~ phi(z)/z * (1 -
// 1/z^2 + 3/z^4), from z = sqrt(-2 ln p).
func invTailLog(lp float64) float64 {
	z := math.Sqrt(-2 * lp)
	for range 3 {
		z2 := z * z
		// log(z sqrt(2 pi)) - log(1 - 1/z^2 + 3/z^4) in one logarithm
		f := -z2/2 - math.Log(z*sqrt2Pi/(1-1/z2+3/(z2*z2))) - lp
		// d/dz of the log tail is about -(z + 1/z).
		z += f / (z + 1/z)
	}
	return z
}

var sqrt2Pi = math.Sqrt(2 * math.Pi)

// invTailLogS is a surprise above which InvSurprise's tail probability is
// certainly at most 1e-12 (the threshold is 11.699, rounding moves it by
// far less than the margin).
const invTailLogS = 11.75

// InvSurprise returns |z| >= 0 with Surprise(z) = s: the inverse of
// Surprise for s in [0, 300].
func InvSurprise(s float64) float64 {
	if !(s > 0) {
		return 0
	}
	s = fmath.Min(s, 300) // s > 0 here
	// p = 0.5*10^-s is above 1e-12 for s below 12 - log10(2) = 11.7: the
	// exponential is needed only there (and close to it, where its
	// rounding decides the branch).
	if s < invTailLogS {
		if s >= midS0 && s < midS1 {
			return midInvSurprise(s)
		}
		if p := 0.5 * math.Exp(-math.Ln10*s); p > 1e-12 {
			return InvTail(p)
		}
	}
	return farInvSurprise(s)
}
