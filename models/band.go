package models

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/algorithms/stream"
)

// The band is the verdict. For the point at tsMs, band returns [lower,
// upper], the values that would be judged normal; a point is anomalous
// exactly when it lies outside (result enforces it, so rounding in the
// inversion below can move an edge by a hair but can never make the band
// and the state disagree). The band is found by inverting each alerting
// path of the score for the model as it stands before the point:
//
//   - A: the adaptive detectors alert when the likelihood score reaches
//     Escalate (and the recent peak, which suppresses repeats). That needs a
//     raw score needRaw, i.e. a calibrated surprise u*, i.e. |z_i| >=
//     u*·q_i/w_i for the spike, level or change-point detector; the change
//     point moves with the clipped fast z, so it bounds the fast z from one
//     side. The learned-range rule (raw score 1) adds [lo-tol, hi+tol].
//   - J: the novelty detector alerts beyond its raw, smoothed and
//     time-of-day ranges (novelty.Detector.Band).
//   - K: neither may alert for a point within NoveltyMinZ robust scales of
//     both the fast and the slow expectation.
//
// Normal is (A ∩ J) ∪ K; the band is its hull, capped at bandCapZ fast
// scales from the expected value, never narrower than minBandZ fast scales
// (where every value would alert), and clamped to the domain the series has shown: no negative
// lower bound for a series that was never negative, no upper bound above
// 100 (or 1) for a series that has touched that ceiling and never passed it.
func (m *Model) band(c *Config, k *components, tsMs int64) (lo, hi float64) {
	e, s := k.expFast, k.sFast
	k.capLo, k.capHi = m.capBand(c, k)
	aLo, aHi := m.adaptiveBand(c, k)
	mask := m.novMask(c)
	if k.step != 0 {
		mask &^= novelty.MaskRaw
	}
	jLo, jHi := m.nov.BandClip(&c.Novelty, k.local, k.d.novEx, k.sClipLo, k.sClipHi, mask)
	if mask != m.novMask(c) {
		// The raw range counts beyond the trend-carried range only
		// (pointMask).
		sLo, sHi := k.spanLo, k.spanHi
		rLo, rHi := m.nov.BandExcess(&c.Novelty, k.local, k.d.novEx, novelty.MaskRaw)
		if !math.IsInf(rLo, 0) {
			rLo = fmath.Min(rLo, sLo)
		}
		if !math.IsInf(rHi, 0) {
			rHi = fmath.Max(rHi, sHi)
		}
		jLo, jHi = fmath.Max(jLo, rLo), fmath.Min(jHi, rHi)
	}
	lo, hi = fmath.Max(aLo, jLo), fmath.Min(aHi, jHi)
	gf, gs := m.gates(c)
	kLo := fmath.Max(e-gf*s, k.expSlow-gs*k.sSlow)
	kHi := fmath.Min(e+gf*s, k.expSlow+gs*k.sSlow)
	switch {
	case lo <= hi && kLo <= kHi:
		lo, hi = fmath.Min(lo, kLo), fmath.Max(hi, kHi)
	case kLo <= kHi:
		lo, hi = kLo, kHi
	case lo > hi:
		// every value would alert: a sliver around the expectation
		lo, hi = e, e
	}
	if k.pois && k.pLo[0] <= hi && k.pHi[0] >= lo {
		// a count within the Poisson tail of the gate is not far
		lo, hi = fmath.Min(lo, k.pLo[0]), fmath.Max(hi, k.pHi[0])
	}
	if c.ConfirmZ <= 0 {
		k.cLo, k.cHi = math.Inf(-1), math.Inf(1)
		k.wLo, k.wHi = m.finishBand(k, lo, hi)
		return k.wLo, k.wHi
	}
	// Confirmation: a point within ConfirmZ scales of both expectations is
	// weak evidence and normal on its own (the band's hull widens to
	// there); it makes the next point anomalous when that one lies
	// ConfirmNext scales beyond either expectation on the same side.
	wLo, wHi := lo, hi
	es, ss := k.expSlow, k.sSlow
	if zc := c.ConfirmZ; true {
		cLo := fmath.Max(e-zc*s, es-zc*ss)
		cHi := fmath.Min(e+zc*s, es+zc*ss)
		if k.pois && k.pLo[1] <= cHi && k.pHi[1] >= cLo {
			cLo, cHi = fmath.Min(cLo, k.pLo[1]), fmath.Max(cHi, k.pHi[1])
		}
		// The smoothed value's novelty is evidence of several points
		// already (a sustained shift): it needs no confirmation.
		if sm := mask & novelty.MaskSmooth; sm != 0 && (cLo < lo || cHi > hi) {
			smLo, smHi := m.nov.BandClip(&c.Novelty, k.local, k.d.novEx, k.sClipLo, k.sClipHi, sm)
			cLo, cHi = fmath.Max(cLo, smLo), fmath.Min(cHi, smHi)
		}
		if cLo <= cHi && lo <= hi {
			lo, hi = fmath.Min(lo, cLo), fmath.Max(hi, cHi)
		}
	}
	zn := c.ConfirmNext
	k.cLo, k.cHi = math.Inf(-1), math.Inf(1)
	// The confirming point must be far from the baseline itself: on a
	// count series, beyond the Poisson tail of the gate too.
	if m.flags&flagWeakUp != 0 {
		edge := fmath.Min(e+zn*s, es+zn*ss)
		if k.pois {
			edge = fmath.Max(edge, k.pHi[0])
		}
		if edge > lo {
			hi, wHi = fmath.Min(hi, edge), fmath.Min(wHi, edge)
			k.cHi = edge
		}
	}
	if m.flags&flagWeakDown != 0 {
		edge := fmath.Max(e-zn*s, es-zn*ss)
		if k.pois {
			edge = fmath.Min(edge, k.pLo[0])
		}
		if edge < hi {
			lo, wLo = fmath.Max(lo, edge), fmath.Max(wLo, edge)
			k.cLo = edge
		}
	}
	if wLo == lo && wHi == hi {
		k.wLo, k.wHi = m.finishBand(k, lo, hi)
		return k.wLo, k.wHi
	}
	k.wLo, k.wHi = m.finishBand(k, wLo, wHi)
	return m.finishBand(k, lo, hi)
}

// capBand returns where the band is capped when no detector could alert
// (repeat suppression, a hold, a quiet novelty detector, a calibration so
// wide that no gate binds): bandCapZ fast scales from the expectation, or
// the values the series has shown (its learned range, trend-carried as
// span, widened by the excess at which the novelty detector would score a
// new record Threshold), whichever reaches further. A point beyond both is
// anomalous even then; a value the series has already shown, while every
// detector suppresses it as a repeat, is not new.
func (m *Model) capBand(c *Config, k *components) (lo, hi float64) {
	e, s := k.expFast, k.sFast
	lo, hi = e-bandCapZ*s, e+bandCapZ*s
	if m.n > 1 {
		sLo, sHi := k.spanLo, k.spanHi
		tol := (c.Novelty.Tolerance + k.d.novEx) * (sHi - sLo)
		if !math.IsInf(tol, 0) && !math.IsNaN(tol) {
			lo, hi = fmath.Min(lo, sLo-tol), fmath.Max(hi, sHi+tol)
		}
	}
	return lo, hi
}

// finishBand caps [lo, hi] at [k.capLo, k.capHi] (capBand), keeps it at
// least minBandZ wide and clamps it to the domain.
func (m *Model) finishBand(k *components, lo, hi float64) (float64, float64) {
	s := k.sFast
	lo, hi = fmath.Max(lo, k.capLo), fmath.Min(hi, k.capHi)
	if w := minBandZ * s; !(hi-lo >= w) {
		mid := lo/2 + hi/2
		lo, hi = mid-w/2, mid+w/2
	}
	return m.clampDomain(lo, hi, minBandZ*s)
}

// clampDomain keeps [lo, hi] inside the domain the series has shown and at
// least min(s, domain width) wide.
func (m *Model) clampDomain(lo, hi, s float64) (float64, float64) {
	dLo, dHi := m.domain()
	if lo < dLo || hi > dHi {
		lo, hi = fmath.Max(lo, dLo), fmath.Min(hi, dHi)
		if w := fmath.Min(s, dHi-dLo); !(hi-lo >= w) {
			// The expectation left the domain (a trend below zero): the
			// band hugs the domain's edge on that side.
			if hi < dLo+w {
				lo, hi = dLo, dLo+w
			} else {
				lo, hi = dHi-w, dHi
			}
		}
	}
	lo = fmath.Max(lo, -math.MaxFloat64)
	hi = fmath.Min(hi, math.MaxFloat64)
	if !(hi > lo) {
		// s below the resolution of floats at this magnitude
		hi = math.Nextafter(lo, math.MaxFloat64)
	}
	return lo, hi
}

// domain returns the domain the series has shown: [0, +Inf) for a series
// never negative, [0, 1] or [0, 100] for one that has reached exactly that
// ceiling and never passed it, else the whole line.
func (m *Model) domain() (dLo, dHi float64) {
	dLo, dHi = math.Inf(-1), math.Inf(1)
	if m.n > 0 && m.lo >= 0 {
		dLo = 0
		if m.hi == 1 || m.hi == 100 {
			// a ceiling reached, never passed (a series on its way
			// through 99.6 has shown no ceiling yet)
			dHi = m.hi
		}
	}
	return dLo, dHi
}

// adaptiveBand returns the interval in which none of the adaptive detectors
// (spike, level, change point, learned range) makes the point's score
// reach Escalate; (+Inf, -Inf) when every value would.
func (m *Model) adaptiveBand(c *Config, k *components) (lo, hi float64) {
	all, none := [2]float64{math.Inf(1), math.Inf(-1)}, [2]float64{math.Inf(-1), math.Inf(1)}
	t := c.Escalate
	if p := float64(m.peak); p > t {
		// Repeat suppression: a score below the recent peak is damped.
		if c.SuppressDamp > 0 {
			p = fmath.Min(p, t/c.SuppressDamp)
		}
		t = fmath.Max(t, p)
	}
	if m.hold > 0 {
		t = fmath.Max(t, m.holdBar(c))
	}
	needRaw, ok := m.needRaw(c, t, k.d)
	if !ok {
		return none[0], none[1]
	}
	if needRaw <= 0 {
		return all[0], all[1]
	}
	lo, hi = math.Inf(-1), math.Inf(1)
	if needRaw <= c.RawMax {
		needBest := c.RawLo + needRaw*(c.RawHi-c.RawLo)
		if needBest <= 300 {
			u := stream.InvSurprise(needBest) / c.CalibMin
			q := func(i int) float64 { return fmath.Max(float64(m.cal[i].Q), c.CalibMin) * u / c.Weights[i] }
			zf, zs := q(calFast), q(calSlow)
			lo = fmath.Max(k.expFast-zf*k.sFast, k.expSlow-zs*k.sSlow)
			hi = fmath.Min(k.expFast+zf*k.sFast, k.expSlow+zs*k.sSlow)
			// Change point: |change'| >= C with change' = (1-a)change +
			// a·clip(zfast, HuberK).
			a := c.ChangeRate
			C := q(calChange) * k.d.changeNorm
			old := (1 - a) * float64(m.change)
			zu, zl := (C-old)/a, (-C-old)/a
			if zu <= -c.HuberK || zl >= c.HuberK {
				return all[0], all[1]
			}
			if zu <= c.HuberK {
				hi = fmath.Min(hi, k.expFast+zu*k.sFast)
			}
			if zl >= -c.HuberK {
				lo = fmath.Max(lo, k.expFast+zl*k.sFast)
			}
		}
	}
	if c.RangeTol > 0 && needRaw <= 1 && m.n > 1 && m.rangeCalm(c) && k.spanOK {
		sLo, sHi := k.spanLo, k.spanHi
		tol := c.RangeTol * (sHi - sLo)
		lo, hi = fmath.Max(lo, sLo-tol), fmath.Min(hi, sHi+tol)
	}
	if lo > hi {
		return all[0], all[1]
	}
	return lo, hi
}

// needRaw returns the raw score the point needs for the likelihood score
// to reach t; ok is false when no raw score reaches it.
func (m *Model) needRaw(c *Config, t float64, d *derived) (float64, bool) {
	if m.lik.N == 0 || t >= 1 {
		return 0, false
	}
	lp := c.likParams()
	tailZ, ok := d.escZ, d.escOK
	if t != c.Escalate {
		tailZ, ok = c.tailZ(t)
	}
	if !ok {
		return 0, false
	}
	mean := fmath.Max(float64(m.lik.Mean), lp.MinMean)
	sd := math.Sqrt(fmath.Max(float64(m.lik.Var), lp.MinVar))
	needShort := mean + tailZ*sd
	a := lp.ShortRate
	return (needShort - (1-a)*float64(m.lik.Short)) / a, true
}

// bandCapZ caps the band at this many fast scales from the expectation
// (or at the values the series has shown, when wider: capBand) where no
// detector could alert (repeat suppression, a quiet novelty detector): a
// point further out is anomalous all the same.
var bandCapZ = 100.0

// minBandZ is the narrowest band, in fast scales: where every value would
// alert, a sliver around the expectation remains.
var minBandZ = 0.02

// belowThreshold scales Threshold for a point inside its band whose score
// reached it: the score stays just under the threshold.
const belowThreshold = 0.999

// edgeDetector names the detector for a point the band calls anomalous
// while no scoring path reached the threshold on its own (the hull of the
// normal region or the bandCapZ cap decided): the slow expectation when
// the point is further from it, else the fast one.
func (m *Model) edgeDetector(k *components, v float64) Detector {
	if math.Abs(k.z[calSlow]) > math.Abs(k.z[calFast]) {
		return DetectorLevel
	}
	return DetectorSpike
}

// learningBand is the band shown while the series learns (no verdict is
// given): three scales either side of e, never zero wide, always finite
// (at the edge of the float64 range it keeps to that edge).
func learningBand(e, s float64) (float64, float64) {
	lo, hi := e-3*s, e+3*s
	if !(hi > lo) || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
		lo, hi = math.Nextafter(e, -math.MaxFloat64), math.Nextafter(e, math.MaxFloat64)
	}
	return lo, hi
}

// gates returns how many robust scales from the fast and from the slow
// expectation a point must lie before any detector may alert on it:
// NoveltyMinZ, or GateCalib times the detector's calibration quantile of
// past |z| when that is larger (a heavy-tailed series, whose robust scale
// understates its tails, needs more).
func (m *Model) gates(c *Config) (fast, slow float64) {
	fast, slow = c.NoveltyMinZ, c.NoveltyMinZ
	if g := c.GateCalib; g > 0 {
		fast = fmath.Max(fast, g*fmath.Max(float64(m.cal[calFast].Q), c.CalibMin))
		slow = fmath.Max(slow, g*fmath.Max(float64(m.cal[calSlow].Q), c.CalibMin))
	}
	return fast, slow
}

// novMask returns the novelty ranges that count for the next point: the
// time-of-day slots only with a daily cycle in use (when SlotNeedsCycle:
// without one, the slots are samples of the same distribution, twelve
// times as likely to see a record), and the raw range only while records
// are rare (recordsRare).
func (m *Model) novMask(c *Config) novelty.Mask {
	mask := novelty.MaskAll
	if c.SlotNeedsCycle && m.flags&flagSeasonal == 0 {
		mask &^= novelty.MaskSlot
	}
	if !m.recordsRare(c) {
		mask &^= novelty.MaskRaw
	}
	return mask
}

// recordsRare reports whether the series' last record (a new minimum or
// maximum) lies at least RecordCalm of its history back. For a stationary
// series records get rarer as it ages, so a new one is news; a trending
// series sets records all the time, and its next one is what the trend
// predicts.
func (m *Model) recordsRare(c *Config) bool {
	return float64(m.calm) >= c.RecordCalm*float64(m.n)
}

// rangeCalm is the learned-range rule's precondition: RangeCalm points
// since the range last grew, and records rare.
func (m *Model) rangeCalm(c *Config) bool {
	return int(m.calm) >= c.RangeCalm && m.recordsRare(c)
}

// trendStep returns the slope per point of a significant trend, else 0:
// the slow level's trend when it carries the level by at least RecordTrend
// slow sigmas (sSlow, the slow scale's sigma) over the slow level's memory
// (1/SlowRate points).
func (m *Model) trendStep(c *Config, sSlow float64) float64 {
	if c.RecordTrend <= 0 || c.TrendRate <= 0 {
		return 0
	}
	r := c.TrendRate
	// m.trend is damped (by 1% per point): in a steady linear trend of
	// slope b it settles at b*0.99r/(1-0.99(1-r)).
	b := m.trend * (1 - 0.99*(1-r)) / (0.99 * r)
	if !(math.Abs(b) >= c.RecordTrend*c.SlowRate*sSlow) || math.IsInf(b, 0) {
		return 0
	}
	return b
}

// span returns the learned range for the next point: the record low and
// high, the end in a significant trend's direction carried along by one
// step of it (step, from trendStep). A trending series' next record is what its trend predicts;
// only a value beyond where the trend has carried the record is new. On a
// series without a trend this is the range of every value learned.
func (m *Model) span(step float64) (lo, hi float64) {
	lo, hi = m.lo, m.hi
	if step == 0 {
		return lo, hi
	}
	// The carried range keeps to the series' domain, so that the domain
	// stays known (a falling count is still never negative).
	dLo, dHi := m.domain()
	switch b := step; {
	case b > 0:
		hi = fmath.Max(hi, fmath.Min(hi+b, fmath.Min(dHi, math.MaxFloat64)))
	case b < 0:
		lo = fmath.Min(lo, fmath.Max(lo+b, fmath.Max(dLo, -math.MaxFloat64)))
	}
	return lo, hi
}

// pointMask is novMask for the point v: while a trend carries the learned
// range, the novelty detector's raw range counts only for a value beyond
// the carried range.
func (m *Model) pointMask(c *Config, k *components, v float64) novelty.Mask {
	mask := m.novMask(c)
	if k.step != 0 {
		if lo, hi := k.spanLo, k.spanHi; v >= lo && v <= hi {
			mask &^= novelty.MaskRaw
		}
	}
	return mask
}

// recordScore is the novelty detector's score for v as a new extreme of
// the learned range (span, trend-carried): 0.5 + 0.5(1 - e^{-x/Scale})
// for an excess x beyond the tolerance, in range widths; 0 inside.
func (m *Model) recordScore(c *Config, k *components, v float64) float64 {
	if m.n < 2 || !(c.Novelty.Scale > 0) {
		return 0
	}
	lo, hi := k.spanLo, k.spanHi
	x := novelty.Range{Lo: lo, Hi: hi}.Excess(v) - c.Novelty.Tolerance
	if !(x > 0) {
		return 0
	}
	return novelty.ExcessScore(&c.Novelty, x)
}
