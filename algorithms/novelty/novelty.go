// Package novelty holds streaming novelty detectors for one metric series:
// small, fixed-size, pointer-free state updated one point at a time, with
// no allocation and no history, so that millions of series fit in flat
// slices.
//
// The central idea is spatial novelty: a point is surprising when it leaves
// the range of everything the series has shown so far. Such records are
// rare by construction (for a stationary series the chance that point n is
// a new maximum falls as 1/n), so the test calibrates itself to every
// series without a learned scale, and it fires at the first point of an
// excursion, which is the point that matters to an operator. The range is
// tracked for the raw value and for an exponentially smoothed value (which
// sees sustained shifts that single points in a noisy series do not), and
// the score grows with how far beyond the range the point lies, in units of
// the range's width.
//
// Seasonal series get a third, contextual range: the day is cut into
// Bins slots by time of day (UTC) and each slot keeps the range of the raw
// values seen in it. Once a slot has been visited on SlotDays different
// days, a value that leaves the slot's range by more than SlotTolerance of
// the series' overall range is novel for that time of day, even when it is
// ordinary for the series as a whole (a flat line where a daily peak used
// to be, a daily peak that comes out lower, traffic at night).
//
// Nothing here is safe for concurrent use; callers own their detectors.
package novelty

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
)

// Config holds the parameters of a Detector. The zero value is not useful;
// start from DefaultConfig. One Config is shared by any number of detectors.
type Config struct {
	// Warmup is the number of points observed before any score is given;
	// the ranges are learned during it.
	Warmup int
	// Tolerance is how far (as a fraction of the range's width) a raw value
	// must lie beyond the range before it counts as novel.
	Tolerance float64
	// SmoothRate is the rate of the exponentially smoothed value (0.2 is
	// about a 5-point memory).
	SmoothRate float64
	// SmoothTolerance is Tolerance for the smoothed value.
	SmoothTolerance float64
	// Scale sets how fast the score rises with the excess beyond the
	// tolerance: score = 0.5 + 0.5*(1 - exp(-excess/Scale)), excess in
	// units of the range's width.
	Scale float64
	// Bins is the number of time-of-day slots (at most MaxBins; 0 turns
	// the contextual range off).
	Bins int
	// SlotDays is the number of distinct days a slot must have been seen on
	// before it scores (at most 254: a slot counts its days up to 255).
	SlotDays int
	// SlotTolerance is how far (as a fraction of the width of the series'
	// overall range) a value must lie beyond its slot's range to be novel.
	SlotTolerance float64
	// Quiet is the number of points after a novel point during which the
	// score is 0 (the ranges still learn), so that one excursion gives one
	// alert rather than a burst.
	Quiet int
}

// DefaultConfig returns the configuration measured best on the NAB corpus
// (see RESULTS.md).
func DefaultConfig() Config {
	return Config{
		Warmup:          150,
		Tolerance:       0,
		SmoothRate:      0.2,
		SmoothTolerance: 0.05,
		Scale:           0.1,
		Bins:            12,
		SlotDays:        7,
		SlotTolerance:   0.3,
		Quiet:           10,
	}
}

// MaxBins is the largest Config.Bins.
const MaxBins = 12

// Threshold is the score at and above which a point should be called
// anomalous: any point that is novel at all scores at least 0.5, and the
// NAB threshold sweep settles just above it.
const Threshold = 0.52

// Range is the running [Lo, Hi] of a feature.
type Range struct {
	Lo, Hi float64
}

// Excess returns how far x lies outside r, in units of r's width, or 0 when
// x is inside r or r has no width yet.
func (r Range) Excess(x float64) float64 {
	w := r.Hi - r.Lo
	if !(w > 0) {
		return 0
	}
	switch {
	case x > r.Hi:
		return (x - r.Hi) / w
	case x < r.Lo:
		return (r.Lo - x) / w
	}
	return 0
}

// Include widens r to contain x.
func (r *Range) Include(x float64) {
	r.Lo = min(r.Lo, x)
	r.Hi = max(r.Hi, x)
}

// Detector scores the novelty of a series' raw value, smoothed value and
// raw value for its time of day. Its zero value is ready to use. It is 112
// bytes and pointer-free.
//
// A slot counts the distinct days it was visited on; points come in time
// order (a point of an earlier day than the last one counts as a new day
// for its slot).
//
// A slot's range is kept as two 16-bit fractions of the raw range (every
// value a slot has seen is inside the raw range, which learns a point
// first): its low edge rounded down and its high edge rounded up to the
// next of 65,535 steps of the raw range's width. When the raw range grows
// the slots are re-expressed in the new range, again rounded outwards, so
// a slot's range only ever widens, by at most one step (1/65,535 of the
// raw range) per growth. A slot scores beyond SlotTolerance (0.3 by
// default) of the raw range's width, so the steps are four orders of
// magnitude below what can change a verdict; they are half the size of the
// two 32-bit floats they replace.
type Detector struct {
	raw, smooth Range
	level       float64         // exponentially smoothed value
	n           uint32          // points seen (saturating)
	quiet       int16           // points of silence left
	today       uint16          // bit i: slot i was visited on day
	day         uint16          // day of the last slot visit (days since 1970, mod 2^16)
	kind        Kind            // which range the last novel point left
	slotDays    [MaxBins]uint8  // distinct days visited (saturating at 255); 0 = never
	slotLo      [MaxBins]uint16 // low edge of the slot's range, in steps of the raw range (rounded down)
	slotHi      [MaxBins]uint16 // high edge, rounded up
}

// slotSteps is the number of steps of the raw range in which slot ranges
// are kept.
const slotSteps = math.MaxUint16

// fromSteps returns the value q steps of slotSteps into r.
func fromSteps(r Range, q uint16) float64 {
	f := float64(q) * (1.0 / slotSteps)
	return r.Lo*(1-f) + r.Hi*f // never overflows, unlike Lo + f*(Hi-Lo)
}

// stepsOf returns the fraction of r at which x lies, in steps, clamped to
// [0, slotSteps] (NaN when r has no width: the caller's to handle).
func stepsOf(r Range, x float64) float64 {
	f := (x/2 - r.Lo/2) / (r.Hi/2 - r.Lo/2) * slotSteps // halves: no overflow
	return fmath.Min(fmath.Max(f, 0), slotSteps)
}

// stepsAround returns the steps at or below and at or above x in r; in a
// range without width every value is its low edge, step 0.
func stepsAround(r Range, x float64) (down, up uint16) {
	if !(r.Hi > r.Lo) {
		return 0, 0
	}
	// f lies in [0, slotSteps]: the truncation is the floor, and the
	// ceiling one step above it unless f is whole.
	f := stepsOf(r, x)
	down = uint16(f)
	up = down
	if float64(down) < f {
		up++
	}
	return down, up
}

// slotRange returns slot i's range.
func (d *Detector) slotRange(i int) (lo, hi float64) {
	return fromSteps(d.raw, d.slotLo[i]), fromSteps(d.raw, d.slotHi[i])
}

// includeRaw widens the raw range to contain v, re-expressing the visited
// slots' ranges in the new range (rounded outwards) when it grows.
func (d *Detector) includeRaw(v float64) {
	if v >= d.raw.Lo && v <= d.raw.Hi {
		return
	}
	old := d.raw
	d.raw.Include(v)
	for i := range MaxBins {
		if d.slotDays[i] == 0 {
			continue
		}
		d.slotLo[i], _ = stepsAround(d.raw, fromSteps(old, d.slotLo[i]))
		_, d.slotHi[i] = stepsAround(d.raw, fromSteps(old, d.slotHi[i]))
	}
}

// settle is the number of points the smoothed value takes to forget the
// first one, ceil(4/SmoothRate), after which its range and the slots
// start; 20 without smoothing. The ceiling by truncation: 4/SmoothRate is
// at least 4.
func (cfg *Config) settle() int64 {
	if !(cfg.SmoothRate > 0 && cfg.SmoothRate <= 1) {
		return 20
	}
	x := 4 / cfg.SmoothRate
	n := int64(x)
	if float64(n) < x {
		n++
	}
	return n
}

// visitedToday reports whether slot i was visited on day (days since 1970,
// mod 2^16) already.
func (d *Detector) visitedToday(i int, day uint16) bool {
	return day == d.day && d.today&(1<<i) != 0
}

// Update folds the point (tsMs in Unix milliseconds, v the value) into d
// and returns its anomaly score in [0, 1]: 0 when the point is within the
// ranges learned so far, else 0.5 + 0.5*(1-exp(-e/cfg.Scale)) with e the
// largest excess beyond its tolerance of the raw value, the smoothed value
// and the value in its time-of-day slot. During cfg.Quiet points after a
// novel point the score is 0. Non-finite values are ignored and score 0.
func (d *Detector) Update(cfg *Config, tsMs int64, v float64) float64 {
	return d.UpdateMask(cfg, tsMs, v, MaskAll)
}

// Mask selects the ranges whose novelty scores.
type Mask uint8

const (
	MaskRaw    Mask = 1 << iota // the raw range
	MaskSmooth                  // the smoothed value's range
	MaskSlot                    // the time-of-day slots' ranges
	MaskAll    = MaskRaw | MaskSmooth | MaskSlot
)

// UpdateMask is Update with only the ranges in mask scoring (every range
// still learns the point).
func (d *Detector) UpdateMask(cfg *Config, tsMs int64, v float64, mask Mask) float64 {
	return d.UpdateClip(cfg, tsMs, v, math.Inf(-1), math.Inf(1), mask)
}

// UpdateClip is UpdateMask with the value the smoothed level follows
// clipped to [clipLo, clipHi] (a robust smoother: one outlier moves it by
// at most the clip); the raw range and the slots learn v itself.
func (d *Detector) UpdateClip(cfg *Config, tsMs int64, v, clipLo, clipHi float64, mask Mask) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	if d.n < math.MaxUint32 {
		d.n++
	}
	if d.n == 1 {
		d.raw = Range{v, v}
		d.level = v
		return 0
	}
	d.level += cfg.SmoothRate * (fmath.Min(fmath.Max(v, clipLo), clipHi) - d.level)
	// The smoothed value starts at the first point and needs about
	// 4/SmoothRate points to forget it; its range (and the slots) start
	// after that.
	settle := cfg.settle()
	n := int64(d.n)
	check := n > int64(cfg.Warmup)
	e, kind := 0.0, KindRaw
	if check {
		e = d.raw.Excess(v) - cfg.Tolerance
		if mask&MaskRaw == 0 {
			e = 0
		}
		if n > settle+1 && cfg.SmoothRate > 0 && mask&MaskSmooth != 0 {
			// The score takes the largest excess; the kind names the raw
			// range whenever the value itself is a new extreme, since that
			// is what a person sees first.
			if es := d.smooth.Excess(d.level) - cfg.SmoothTolerance; es > e {
				if e <= 0 {
					kind = KindSmooth
				}
				e = es
			}
		}
	}
	d.includeRaw(v)
	switch {
	case n == settle+1:
		d.smooth = Range{d.level, d.level}
	case n > settle+1:
		d.smooth.Include(d.level)
	}
	if b := cfg.Bins; b > 0 && b <= MaxBins && n > settle {
		if es := d.slot(cfg, tsMs, v, check); es > e && mask&MaskSlot != 0 {
			if e <= 0 {
				kind = KindSlot
			}
			e = es
		}
	}
	if d.quiet > 0 {
		d.quiet--
		return 0
	}
	if e <= 0 {
		return 0
	}
	d.quiet = int16(min(max(cfg.Quiet, 0), math.MaxInt16))
	d.kind = kind
	return ExcessScore(cfg, e)
}

// ExcessScore is the score of a point e > 0 range widths beyond a learned
// range's tolerance: 0.5 + 0.5*(1-exp(-e/cfg.Scale)).
func ExcessScore(cfg *Config, e float64) float64 {
	return 0.5 + 0.5*(1-math.Exp(-e/cfg.Scale))
}

// Kind names the range a novel point left.
type Kind uint8

const (
	KindRaw    Kind = iota // the value left the range of every value seen
	KindSmooth             // the smoothed value left its range: a sustained shift
	KindSlot               // the value left its time-of-day slot's range
)

// Kind returns the range the last novel point left; meaningful only after
// Update returned a score of 0.5 or more.
func (d *Detector) Kind() Kind { return d.kind }

// Bounds returns the band of values that the next point at tsMs could take
// without leaving the raw range or its time-of-day slot's range (the
// smoothed range is left out: it depends on the path, not on one value).
// ok is false while the detector is warming up or quiet, when no value
// would score.
func (d *Detector) Bounds(cfg *Config, tsMs int64) (lo, hi float64, ok bool) {
	if int64(d.n) < int64(cfg.Warmup) || d.quiet > 0 {
		return 0, 0, false
	}
	w := d.raw.Hi - d.raw.Lo
	lo, hi = d.raw.Lo-cfg.Tolerance*w, d.raw.Hi+cfg.Tolerance*w
	if b := cfg.Bins; b > 0 && b <= MaxBins && w > 0 {
		const msPerDay = 86_400_000
		ms := tsMs % msPerDay
		if ms < 0 {
			ms += msPerDay
		}
		i := int(ms * int64(b) / msPerDay)
		if int(d.slotDays[i]) > cfg.SlotDays {
			sLo, sHi := d.slotRange(i)
			lo = fmath.Max(lo, sLo-cfg.SlotTolerance*w)
			hi = fmath.Min(hi, sHi+cfg.SlotTolerance*w)
		}
	}
	return lo, hi, true
}

// slot folds v into its time-of-day slot and returns its excess beyond the
// slot's range less cfg.SlotTolerance (in units of the overall range), or
// 0 while the slot is young or check is false.
func (d *Detector) slot(cfg *Config, tsMs int64, v float64, check bool) float64 {
	const msPerDay = 86_400_000
	ms := tsMs % msPerDay
	day := tsMs / msPerDay
	if ms < 0 {
		ms += msPerDay
		day--
	}
	b := int(ms * int64(cfg.Bins) / msPerDay)
	seen := d.visitedToday(b, uint16(day))
	if uint16(day) != d.day {
		d.day, d.today = uint16(day), 0
	}
	d.today |= 1 << b
	// The point's place in the raw range, in steps (every slot value is
	// inside it: the raw range learned the point first).
	qLo, qHi := stepsAround(d.raw, v)
	if d.slotDays[b] == 0 {
		d.slotLo[b], d.slotHi[b] = qLo, qHi
		d.slotDays[b] = 1
		return 0
	}
	if !seen && d.slotDays[b] < math.MaxUint8 {
		d.slotDays[b]++
	}
	e := 0.0
	if w := d.raw.Hi - d.raw.Lo; check && w > 0 && int(d.slotDays[b]) > cfg.SlotDays {
		switch lo, hi := d.slotRange(b); {
		case v > hi:
			e = (v-hi)/w - cfg.SlotTolerance
		case v < lo:
			e = (lo-v)/w - cfg.SlotTolerance
		}
	}
	d.slotLo[b] = min(d.slotLo[b], qLo)
	d.slotHi[b] = max(d.slotHi[b], qHi)
	return fmath.Max(e, 0)
}
