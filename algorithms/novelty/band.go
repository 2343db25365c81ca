package novelty

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
)

// ScoreExcess returns the smallest excess e > 0 (in range widths, beyond
// the tolerance) whose score 0.5 + 0.5*(1-exp(-e/cfg.Scale)) reaches t;
// 0 when any novel point reaches t (t <= 0.5), +Inf when none does.
func ScoreExcess(cfg *Config, t float64) float64 {
	switch {
	case t <= 0.5:
		return 0
	case t >= 1:
		return math.Inf(1)
	}
	return -cfg.Scale * math.Log(1-(t-0.5)/0.5)
}

// Band returns the interval of values the next point at tsMs may take
// without scoring t or more: the raw range, the range of the smoothed value
// (inverted through the smoothing step) and the time-of-day slot's range,
// each widened by its tolerance plus the excess that scores t. It mirrors
// Update: while the detector warms up or is quiet, no value scores and the
// band is (-Inf, +Inf). Only the ranges in mask count (as in UpdateMask). A value exactly on an edge scores t (or, with
// t <= 0.5, scores 0), so it is inside the band; the band is closed.
func (d *Detector) Band(cfg *Config, tsMs int64, t float64, mask Mask) (lo, hi float64) {
	return d.BandExcess(cfg, tsMs, ScoreExcess(cfg, t), mask)
}

// BandExcess is Band for the score whose excess is ex = ScoreExcess(cfg,
// t), computed once by a caller whose t does not change.
func (d *Detector) BandExcess(cfg *Config, tsMs int64, ex float64, mask Mask) (lo, hi float64) {
	return d.BandClip(cfg, tsMs, ex, math.Inf(-1), math.Inf(1), mask)
}

// BandClip is BandExcess for UpdateClip with the same clip.
func (d *Detector) BandClip(cfg *Config, tsMs int64, ex, clipLo, clipHi float64, mask Mask) (lo, hi float64) {
	lo, hi = math.Inf(-1), math.Inf(1)
	n := int64(d.n) + 1
	if d.n == 0 || d.quiet > 0 || n <= int64(cfg.Warmup) {
		return lo, hi
	}
	if math.IsInf(ex, 1) {
		return lo, hi
	}
	// A novel point needs an excess strictly above 0; with ex == 0 the
	// edge itself is not novel, which the closed band already says.
	w := d.raw.Hi - d.raw.Lo
	if w > 0 && mask&MaskRaw != 0 {
		lo = d.raw.Lo - (cfg.Tolerance+ex)*w
		hi = d.raw.Hi + (cfg.Tolerance+ex)*w
	}
	settle := cfg.settle()
	if a := cfg.SmoothRate; a > 0 && n > settle+1 && mask&MaskSmooth != 0 {
		if ws := d.smooth.Hi - d.smooth.Lo; ws > 0 {
			// level' = level + a(v - level) must stay within the smoothed
			// range widened by its tolerance.
			sLo := d.smooth.Lo - (cfg.SmoothTolerance+ex)*ws
			sHi := d.smooth.Hi + (cfg.SmoothTolerance+ex)*ws
			// v is novel when clip(v) lies beyond [eLo, eHi]: beyond the
			// edge when the edge lies inside the clip, never when the
			// clip is inside the edges, always when the clip misses them.
			eLo, eHi := d.level+(sLo-d.level)/a, d.level+(sHi-d.level)/a
			if eLo > clipHi || eHi < clipLo {
				return math.Inf(1), math.Inf(-1)
			}
			if eLo > clipLo {
				lo = fmath.Max(lo, eLo)
			}
			if eHi < clipHi {
				hi = fmath.Min(hi, eHi)
			}
		}
	}
	if b := cfg.Bins; mask&MaskSlot != 0 && b > 0 && b <= MaxBins && n > settle && w > 0 {
		const msPerDay = 86_400_000
		ms := tsMs % msPerDay
		day := tsMs / msPerDay
		if ms < 0 {
			ms += msPerDay
			day--
		}
		i := int(ms * int64(b) / msPerDay)
		days := int(d.slotDays[i])
		if days > 0 && !d.visitedToday(i, uint16(day)) {
			days++
		}
		if days > cfg.SlotDays {
			// The slot's excess is measured against the overall range as
			// it is after the point; within that range (the only place
			// where the slot is tighter than the raw range) it is w.
			sLo, sHi := d.slotRange(i)
			lo = fmath.Max(lo, sLo-(cfg.SlotTolerance+ex)*w)
			hi = fmath.Min(hi, sHi+(cfg.SlotTolerance+ex)*w)
		}
	}
	return lo, hi
}
