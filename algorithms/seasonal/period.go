package seasonal

import (
	"math"
	"math/bits"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"

	"github.com/anomalyd/detector/algorithms/robust"
)

// PeriodConfig parameterises DetectPeriod.
type PeriodConfig struct {
	// Candidates are cycle lengths in slots, in order of preference
	// (usually one day and one week at the grid's step).
	Candidates []int
	// MinCycles is the number of whole cycles the series must span for a
	// candidate to be tested (default 3).
	MinCycles int
	// MinACF is the smallest autocorrelation accepted (default 0.3).
	MinACF float64
	// Z is how many standard errors above zero the autocorrelation must lie
	// (default 4), with Bartlett's standard error for a series correlated
	// up to the lag below the candidate,
	//
	//	se(r_L) = sqrt((1 + 2 Σ_{0<j<L} e_j²) / n),
	//
	// where e_j is the autocorrelation of the detrended series once the
	// candidate's cycle is removed. A smooth non-periodic series such as a
	// random walk keeps large e_j at short lags, so its r_L must be very
	// large to count; a real cycle leaves e_j near 0. On 5-minute random
	// walks Z = 4 accepted 1 in 300 at three days and none of 900 at four,
	// seven or fourteen days, while a daily sine of amplitude 2.5 under
	// noise of standard deviation 2 was found 100 times in 100 at each length.
	Z float64
	// Margin is how much higher the autocorrelation of a later candidate
	// must be to be preferred over an earlier significant one (default
	// 0.05). A weekly cycle also repeats daily in most series; it is chosen
	// only when the week explains clearly more than the day.
	Margin float64
}

// DefaultPeriodConfig returns the defaults described in PeriodConfig, for
// the given candidates.
func DefaultPeriodConfig(candidates ...int) PeriodConfig {
	return PeriodConfig{Candidates: candidates, MinCycles: 3, MinACF: 0.3, Z: 4, Margin: 0.05}
}

// PeriodScore is the evidence for one candidate.
type PeriodScore struct {
	Lag       int
	ACF       float64 // autocorrelation at Lag of the detrended series
	Threshold float64 // the value ACF had to exceed
	Tested    bool    // false when the series is shorter than MinCycles·Lag
}

// DetectPeriod returns the candidate lag chosen for x (0 when none is
// significant) and the evidence for every candidate (appended to
// scores[:0]). x must be regular (see Regularize) and finite.
//
// For each candidate L the series is detrended by a centred rolling median L
// slots long, which removes anything slower than the cycle, including a
// random walk's wandering; r_L is the autocorrelation at lag L of what
// remains. L is significant when r_L > max(MinACF, Z·se(r_L)). The first
// significant candidate is chosen, unless a later one is higher by Margin
// than the chosen one's autocorrelation on the later one's detrended series.
func DetectPeriod(x []float64, cfg PeriodConfig, scores []PeriodScore, w *Work) (int, []PeriodScore) {
	if w == nil {
		w = new(Work)
	}
	if cfg.MinCycles <= 0 {
		cfg.MinCycles = 3
	}
	scores = scores[:0]
	n := len(x)
	best := 0
	for _, L := range cfg.Candidates {
		sc := PeriodScore{Lag: L}
		if L >= 2 && n >= cfg.MinCycles*L {
			sc.Tested = true
			d := w.detrend(x, L)
			sc.ACF = pearson(d, L)
			if sc.ACF > cfg.MinACF {
				sc.Threshold = w.threshold(d, L, cfg)
			} else {
				sc.Threshold = cfg.MinACF
			}
			// A later candidate replaces the chosen one only when, on the
			// same detrended series, it correlates clearly better.
			if sc.ACF > sc.Threshold && (best == 0 || sc.ACF > pearson(d, best)+cfg.Margin) {
				best = L
			}
		}
		scores = append(scores, sc)
	}
	return best, scores
}

// detrend returns x minus its centred rolling median over L slots, shifted
// to mean 0. The result aliases w.a.
func (w *Work) detrend(x []float64, L int) []float64 {
	n := len(x)
	w.a = robust.RollingMedian(w.a, x, L, L/2, w.scratch(L))
	d := w.a
	var mean float64
	for i, v := range x {
		d[i] = v - d[i]
		mean += d[i]
	}
	mean /= float64(n)
	for i := range d {
		d[i] -= mean
	}
	return d
}

// pearson returns the correlation of d[:n-L] with d[L:] (both taken about
// 0, d's mean). Unlike the usual acov[L]/acov[0] it is not shrunk by
// (n-L)/n, so three cycles of a clean sine give 1, not 2/3.
func pearson(d []float64, L int) float64 {
	var s0, s1, s01 float64
	for i := range len(d) - L {
		s0 += d[i] * d[i]
		s1 += d[i+L] * d[i+L]
		s01 += d[i] * d[i+L]
	}
	if s0 == 0 || s1 == 0 {
		return 0
	}
	return s01 / math.Sqrt(s0*s1)
}

// threshold returns the value the autocorrelation of d at lag L must exceed.
//
// Bartlett's standard error is taken under the null "no cycle at L": the
// short-lag correlations come from d with the candidate's cycle removed (its
// per-phase median), so that a real cycle does not inflate its own standard
// error, while a smooth non-periodic series keeps its large short-lag
// correlations.
func (w *Work) threshold(d []float64, L int, cfg PeriodConfig) float64 {
	n := len(d)
	e := slices.Grow(w.c[:0], n)[:n]
	buf := w.scratch(n/L + 1)
	for ph := range L {
		vals := buf[:0]
		for k := ph; k < n; k += L {
			vals = append(vals, d[k])
		}
		m := robust.Median(vals, vals)
		for k := ph; k < n; k += L {
			e[k] = d[k] - m
		}
	}
	w.c = e
	acov := w.autocov(e, L)
	if acov[0] == 0 {
		// The cycle explains everything.
		return cfg.MinACF
	}
	var sum float64
	for j := 1; j < L; j++ {
		rj := acov[j] / acov[0]
		sum += rj * rj
	}
	return max(cfg.MinACF, cfg.Z*math.Sqrt((1+2*sum)/float64(n)))
}

// autocov returns Σ_t d[t]·d[t+k] for k = 0..maxLag, computed by FFT over a
// zero-padded copy of d. The result aliases w's memory.
func (w *Work) autocov(d []float64, maxLag int) []float64 {
	n := len(d)
	// Zero padding to n+maxLag keeps the circular correlation from wrapping
	// into the lags we read; 5-smooth lengths keep the transform fast.
	m := smooth(n + maxLag + 1)
	if w.fft == nil || w.fft.Len() != m {
		if w.fft == nil {
			w.fft = fourier.NewFFT(m)
		} else {
			w.fft.Reset(m)
		}
	}
	w.pad = slices.Grow(w.pad[:0], m)[:m]
	copy(w.pad, d)
	clear(w.pad[n:])
	w.coef = slices.Grow(w.coef[:0], m/2+1)[:m/2+1]
	w.fft.Coefficients(w.coef, w.pad)
	for i, c := range w.coef {
		w.coef[i] = complex(real(c)*real(c)+imag(c)*imag(c), 0)
	}
	w.fft.Sequence(w.pad, w.coef)
	scale := 1 / float64(m) // the inverse transform is unnormalised
	for i := range maxLag + 1 {
		w.pad[i] *= scale
	}
	return w.pad[:maxLag+1]
}

// scratch returns w.b with at least n elements.
func (w *Work) scratch(n int) []float64 {
	if cap(w.b) < n {
		w.b = make([]float64, n)
	}
	return w.b[:n]
}

// smooth returns the smallest integer >= n whose only prime factors are 2,
// 3 and 5.
func smooth(n int) int {
	best := 1 << bits.Len(uint(max(n-1, 1)))
	for p5 := 1; p5 < best; p5 *= 5 {
		for p35 := p5; p35 < best; p35 *= 3 {
			v := p35
			for v < n {
				v *= 2
			}
			best = min(best, v)
		}
	}
	return best
}

// Work is the reusable scratch memory of this package; the zero value is
// ready to use.
type Work struct {
	a, b, c []float64
	idx     []int
	pad     []float64
	coef    []complex128
	fft     *fourier.FFT
}
