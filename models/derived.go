package models

import (
	"math"

	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/algorithms/stream"
)

// derived holds the constants the model computes from its Config alone:
// the inversions and step factors that would otherwise cost a logarithm,
// an exponential or an inverse normal tail on every point. Validate and
// DefaultConfig store them in the Config (Config.prep); the model uses the
// stored ones while the fields they come from (derivedKey) are unchanged,
// and computes them afresh for the point otherwise, so a Config changed
// after Validate gives the same verdicts, only slower. The values are
// exactly the ones the per-point code would compute.
type derived struct {
	key derivedKey
	ok  bool // the constants were computed (a zero derived is not)

	// changeNorm is sqrt(a/(2-a)), a = ChangeRate: the stationary sigma of
	// the change statistic in units of the clipped fast z.
	changeNorm float64
	// escZ and escOK: the upper normal tail quantile of the likelihood
	// score Escalate (tailZ(Escalate)); escOK is false when no raw score
	// reaches Escalate.
	escZ  float64
	escOK bool
	// novEx is the novelty excess that scores Threshold
	// (novelty.ScoreExcess).
	novEx float64
	// growFast and growSlow are the median step factors of the fast scale
	// (rate ScaleRate) and of the slow scales (rate 4*SlowRate) once their
	// warm-up rates have fallen below them.
	growFast, growSlow float64
	// cal steps the calibration quantiles (CalibP at rate CalibRate).
	cal stream.QuantileStep
}

// derivedKey is every Config field a derived constant depends on.
type derivedKey struct {
	changeRate, escalate, likScale, threshold, novScale float64
	scaleRate, slowRate, calibP, calibRate              float64
}

func (c *Config) derivedKey() derivedKey {
	return derivedKey{c.ChangeRate, c.Escalate, c.LikScale, c.Threshold, c.Novelty.Scale,
		c.ScaleRate, c.SlowRate, c.CalibP, c.CalibRate}
}

// derive computes the constants of c.
func (c *Config) derive() derived {
	d := derived{key: c.derivedKey(), ok: true}
	a := c.ChangeRate
	d.changeNorm = math.Sqrt(a / (2 - a))
	d.escZ, d.escOK = c.tailZ(c.Escalate)
	d.novEx = novelty.ScoreExcess(&c.Novelty, c.Threshold)
	d.growFast = stream.Growth(c.ScaleRate)
	d.growSlow = stream.Growth(c.SlowRate * 4)
	d.cal = stream.NewQuantileStep(c.CalibP, c.CalibRate)
	return d
}

// consts returns the derived constants of c: the stored ones while they
// match c, else computed now into buf.
func (c *Config) consts(buf *derived) *derived {
	// field by field, inline: the struct comparison is a call
	if k := &c.prep.key; c.prep.ok && k.changeRate == c.ChangeRate && k.escalate == c.Escalate &&
		k.likScale == c.LikScale && k.threshold == c.Threshold && k.novScale == c.Novelty.Scale &&
		k.scaleRate == c.ScaleRate && k.slowRate == c.SlowRate && k.calibP == c.CalibP && k.calibRate == c.CalibRate {
		return &c.prep
	}
	*buf = c.derive()
	return buf
}

// tailZ returns the upper normal tail quantile the likelihood's short mean
// must reach for the likelihood score to reach t; ok is false when no raw
// score reaches t.
func (c *Config) tailZ(t float64) (float64, bool) {
	if t >= 1 {
		return 0, false
	}
	needLs := max(t, 0) * c.LikScale / (1 - t)
	if needLs > 300 {
		return 0, false
	}
	return stream.InvTail(math.Exp(-math.Ln10 * needLs)), true
}

// growth returns the median step factor at rate max(rate, warm): g (the
// stored Growth(rate)) once warm has fallen to rate.
func growth(rate, warm, g float64) float64 {
	if warm > rate {
		return stream.Growth(warm)
	}
	return g
}
