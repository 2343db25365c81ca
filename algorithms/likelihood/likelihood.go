// Package likelihood turns a stream of raw anomaly scores into an anomaly
// likelihood, in the manner of Numenta's HTM anomaly likelihood: the mean
// of the raw score over a short recent window is compared with the
// distribution of that short mean over a long history, and the upper tail
// probability of the current short mean under a normal fit of that
// distribution says how unusual the recent scores are for this series. A
// series whose raw score is often high (a noisy one) needs a higher or
// longer excursion than a quiet one.
//
// Everything is exponentially weighted, one pass, fixed size (16 bytes)
// and allocation free. A Tracker is not safe for concurrent use.
package likelihood

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
	"github.com/anomalyd/detector/algorithms/stream"
)

// Tracker holds the short mean of the raw score and the long-run mean and
// variance of that short mean.
type Tracker struct {
	Short, Mean, Var float32
	N                uint32 // observations folded in (saturating)
}

// Params are the rates and floors of a Tracker.
type Params struct {
	// ShortRate is the rate of the short mean (0.2 is about a 10-point
	// window).
	ShortRate float64
	// LongRate is the slowest rate of the long-run moments; the first
	// points use 1/n (a plain mean) until 1/n falls below it.
	LongRate float64
	// MinMean and MinVar floor the long-run moments so that a series whose
	// raw score is always 0 does not make every small blip infinitely
	// unlikely (HTM uses 0.03 and 0.0003).
	MinMean, MinVar float64
}

// Update folds the raw score a (in [0,1]) in and returns -log10 of the
// upper tail probability of the new short mean under the long-run
// distribution as it was before this point (0 when the short mean is at or
// below the long-run mean). It is capped at 300.
func (t *Tracker) Update(a float64, p *Params) float64 {
	s := t.Surprise(t.Next(a, p), p)
	t.Fold(a, p)
	return s
}

// Fold folds the raw score a in, as Update does, without computing the
// surprise (for a caller that has it from Surprise already).
func (t *Tracker) Fold(a float64, p *Params) {
	short := t.Next(a, p)
	// Fold the short mean into the long-run moments.
	r := p.LongRate
	if t.N < math.MaxUint32 {
		t.N++
	}
	if w := 1 / float64(t.N); w > r {
		r = w
	}
	mean, v := float64(t.Mean), float64(t.Var)
	d := short - mean
	mean += r * d
	v = (1 - r) * (v + r*d*d)
	t.Short, t.Mean, t.Var = float32(short), float32(mean), float32(v)
}

// Surprise returns -log10 of the upper tail probability of a short mean
// under the current long-run distribution, without changing the tracker.
func (t *Tracker) Surprise(short float64, p *Params) float64 {
	if t.N == 0 {
		return 0
	}
	mean := fmath.Max(float64(t.Mean), p.MinMean)
	sd := math.Sqrt(fmath.Max(float64(t.Var), p.MinVar))
	z := (short - mean) / sd
	if !(z > 0) {
		return 0
	}
	if z < 8 {
		// -log10 of half the two-sided tail (stream.Surprise's table)
		return stream.Surprise(z) + log10of2
	}
	tail := 0.5 * math.Erfc(z/math.Sqrt2)
	if tail <= 1e-300 {
		return 300
	}
	return -math.Log10(tail)
}

// Next returns the short mean the tracker would have after raw score a.
func (t *Tracker) Next(a float64, p *Params) float64 {
	if t.N == 0 {
		return a
	}
	return float64(t.Short) + p.ShortRate*(a-float64(t.Short))
}

var log10of2 = math.Log10(2)
