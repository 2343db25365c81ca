package models

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
)

// Counts. A series whose every value is a non-negative integer (events per
// interval, errors per minute) and whose expectation is small is judged
// against Poisson tails as well as robust scales: a robust scale of a
// series of mostly zeros is tiny, and a count of 3 where 0.2 is usual sits
// ten scales out, though a Poisson count of mean 0.2 reaches 3 about once
// a thousand points. Such a point is far from the baseline (NoveltyMinZ)
// only when its Poisson tail at the slow expectation is as small as the
// normal tail at NoveltyMinZ, and strong evidence (ConfirmZ) likewise.
// A count series whose noise is much smaller than a Poisson count's (an
// integer gauge) is judged by its robust scales alone.
//
// State: one flag (flagCount), cleared by the first value that is not a
// non-negative integer.

// maxPoissonMean is the largest expectation judged against Poisson tails;
// above it the robust scales of a count series are close to its Poisson
// sigma.
const maxPoissonMean = 50

// isCount reports whether v can be a count.
func isCount(v float64) bool { return v >= 0 && v <= 1<<53 && v == math.Trunc(v) }

// countEdges sets k.pois and, for the gate (NoveltyMinZ) and ConfirmZ, the
// edges k.pLo and k.pHi between which a count is within the Poisson tail
// of that many scales at mean max(expSlow, 0): counts at or below pLo and
// at or above pHi are beyond (edges sit half way between counts).
func (m *Model) countEdges(c *Config, k *components) {
	k.pois = false
	lam := fmath.Max(k.expSlow, 0)
	if !c.CountAware || m.flags&flagCount == 0 || !(lam <= maxPoissonMean) {
		return
	}
	// Dispersed as a Poisson count: the residuals' mean absolute size (as
	// a normal sigma) at least half the Poisson sigma. An integer gauge
	// with little noise (a queue length of 12 that moves by one) is not.
	if sig := float64(m.slowS.Mean) * math.Sqrt(math.Pi/2); !(sig >= 0.5*math.Sqrt(lam)) {
		return
	}
	k.pois = true
	zs := [2]float64{c.NoveltyMinZ, max(c.ConfirmZ, c.NoveltyMinZ)}
	var p [2]float64
	for i, z := range zs {
		p[i] = 0.5 * math.Erfc(z/math.Sqrt2) // one-sided normal tail
		k.pLo[i], k.pHi[i] = math.Inf(-1), math.Inf(1)
	}
	pmf := math.Exp(-lam) // P(X = j)
	cdf := 0.0            // P(X < j)
	limit := lam + 20*math.Sqrt(lam) + 30
	for j := 0.0; j <= limit; j++ {
		upper := 1 - cdf // P(X >= j)
		cdf += pmf
		for i := range p {
			if cdf <= p[i] {
				k.pLo[i] = j + 0.5 // j and below are in the lower tail
			}
			if upper <= p[i] && math.IsInf(k.pHi[i], 1) {
				k.pHi[i] = j - 0.5
			}
		}
		if !math.IsInf(k.pHi[1], 1) {
			break
		}
		pmf *= lam / (j + 1)
	}
}
