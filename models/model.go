// Package models holds what a series has learned: the per-series baseline
// state, its update and scoring step and its versioned binary encoding.
//
// CONTRACT (other packages compile against these names; keep them):
//   - Model is a fixed-size, pointer-free struct; the zero value is a new,
//     empty baseline. Its size is a few hundred bytes at most.
//   - Update learns the point and returns its verdict; Peek returns the
//     verdict the point would get without changing the model.
//   - A point whose timestamp is not after the last learned one is scored but
//     not learned (Result.Learned is false). Non-finite values are never
//     learned, nor are values beyond ±MaxValue; callers reject them before
//     (ValueInRange). Whatever finite input it gets, the state stays finite.
//   - Update makes no allocations.
//   - AppendBinary/UnmarshalBinary form a versioned encoding.
//
// See doc.go for the model in plain words.
package models

import (
	"math"

	"github.com/anomalyd/detector/algorithms/fmath"
	"github.com/anomalyd/detector/algorithms/likelihood"
	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/algorithms/stream"
	"github.com/anomalyd/detector/anomaly"
)

// Detector names the component of the model that fired.
type Detector uint8

const (
	DetectorNone        Detector = iota
	DetectorLevel                // the value left the series' usual range
	DetectorSeasonal             // the value left its usual range for this time of day/week
	DetectorTrend                // reserved: the slope changed
	DetectorSpike                // the value jumped away from the recent level
	DetectorChange               // the recent mean shifted (change point)
	DetectorStuck                // the value stopped moving where the series had noise (a dead collector)
	DetectorNoData               // the series stopped reporting (set by the engine's no-data sweep, never by Update)
	DetectorStaticBound          // the value crossed a user-set floor or ceiling (bounds.go)
	DetectorLimitRatio           // the value reached its share of its limit series (bounds.go)
)

var detectorNames = [...]string{"none", "level", "seasonal", "trend", "spike", "changepoint", "stuck", "no_data", "static_bound", "limit_ratio"}

func (d Detector) String() string {
	if int(d) < len(detectorNames) {
		return detectorNames[d]
	}
	return "unknown"
}

// Transition says what a point did to the series' anomaly state.
type Transition uint8

const (
	TransitionNone     Transition = iota
	TransitionOpened              // this point opened an anomaly
	TransitionUpdated             // this point belongs to an open anomaly
	TransitionResolved            // this point resolved the open anomaly
)

// Result is the model's verdict on one point. Every float is finite.
type Result struct {
	Expected, Lower, Upper float64
	Score                  float64 // in [0,1]
	Z                      float64 // robust z of the point
	State                  anomaly.State
	Detector               Detector
	NeedPoints             int
	Transition             Transition
	Learned                bool
}

// Result32 is the compact form of the last verdict kept in the model.
type Result32 struct {
	Expected, Lower, Upper, Score, Z float32
	State                            anomaly.State
	Detector                         Detector
}

const (
	dayMs     = 86400 * 1000
	weekMs    = 7 * dayMs
	dayBins   = 24
	binMs     = dayMs / dayBins
	minSeason = 2 * dayMs // history needed before a daily profile may be used
	minWeek   = 7 * dayMs // history needed before day-of-week offsets are used
)

// Flags of Model.flags.
const (
	flagOpen     = 1 << iota // an anomaly is open
	flagSeasonal             // the daily profile is in use
	flagWeekly               // the day-of-week offsets are in use
	flagWeakUp               // the last point was weak evidence above the expectation (Config.ConfirmZ)
	flagWeakDown             // the last point was weak evidence below the expectation
	flagCount                // every value learned is a non-negative integer (a count; see counts.go)
)

// Detector slots of Model.cal.
const (
	calFast = iota
	calSlow
	calChange
	numCal
)

// Model is the learned baseline of one series: a fast robust level, a slow
// robust level with a damped trend, a daily profile of 24 hourly buckets
// (linearly interpolated) with day-of-week offsets, used only when they make
// the residuals smaller, robust scales of the residuals, per-detector
// calibration quantiles, an anomaly likelihood of the raw score, the value
// range, the recent score peak and a range-novelty detector. It holds no pointers; it is 400 bytes on
// 64-bit platforms (unsafe.Sizeof, checked by TestModelSize).
//
// A Model is not safe for concurrent use.
type Model struct {
	n       uint32 // learned points
	run     uint16 // anomalous (or, while open, normal) points in a row
	flags   uint8
	maxFlat uint8 // longest run of unmoving points that ended normally, in units of 4 points (see stuck.go)
	firstTs int64 // first learned timestamp, Unix ms
	lastTs  int64 // last learned timestamp, Unix ms
	lastV   float64
	stepMs  float32 // running median of the time step
	change  float32 // EW mean of clipped standardised fast residuals

	fast   float64      // fast robust level of the deseasonalised value
	fastP  float64      // fast robust level of the raw value
	slow   float64      // slow robust level of the deseasonalised value
	trend  float64      // slope of slow per point (damped)
	plain  float64      // slow robust level of the raw value
	fastS  stream.Scale // |x - fast - season|
	slowS  stream.Scale // |x - slow - profile|
	plainS stream.Scale // |x - plain|

	cal  [numCal]stream.Quantile // calibration quantiles of |z| per detector
	peak float32                 // recent peak score (decays)
	held float32                 // score of the alert that started the hold
	hold uint16                  // points left in the hold after an alert
	flat uint16                  // points in a row that did not move (see stuck.go)
	lik  likelihood.Tracker      // anomaly likelihood of the raw score
	lo   float64                 // lowest value learned
	hi   float64                 // highest value learned
	calm uint32                  // learned points since the range last grew

	// The daily profile and the day-of-week offsets are 16-bit block
	// floating point (profile16.go): a bucket is its mantissa in steps of
	// 2^(exponent-expBias), plus its array's common offset.
	day    [dayBins]int16     // additive daily profile, hourly buckets, less dayOff
	dow    [7]int16           // additive day-of-week offsets, Monday first, less dowOff
	dowCnt [7]uint16          // points per weekday (saturating)
	dayCnt [dayBins / 2]uint8 // visits per daily bucket, 4 bits each (see visits)
	dayExp uint8              // exponent of day
	dowExp uint8              // exponent of dow

	last   Result32
	dayOff float32          // added to every daily bucket (see learn)
	dowOff float32          // added to every day-of-week offset (see learn)
	nov    novelty.Detector // range novelty: raw, smoothed, time of day
}

// Points returns how many points the model has learned.
func (m *Model) Points() uint64 { return uint64(m.n) }

// LastTs returns the timestamp of the last learned point (Unix ms; 0
// before the first).
func (m *Model) LastTs() int64 { return m.lastTs }

// NeedPoints returns how many more points the model must learn under c
// before it judges them (0 once it does): NeedPoints of the last verdict
// while that was StateLearning.
func (m *Model) NeedPoints(c *Config) int { return max(c.MinPoints-int(m.n), 0) }

// Last returns the last learned point and its verdict.
func (m *Model) Last() (tsMs int64, v float64, r Result) {
	l := m.last
	return m.lastTs, m.lastV, Result{Expected: float64(l.Expected), Lower: float64(l.Lower), Upper: float64(l.Upper),
		Score: float64(l.Score), Z: float64(l.Z), State: l.State, Detector: l.Detector, Learned: true}
}

// dayFold is how often (in learned points) the daily profile's common
// offset is folded into its buckets.
const dayFold = 256

// foldDay folds the common offsets of the daily profile and of the
// day-of-week offsets into their mantissas (as far as they are whole
// steps) and re-chooses each one's exponent (foldBlock).
func (m *Model) foldDay() {
	foldBlock(m.day[:], &m.dayExp, &m.dayOff)
	foldBlock(m.dow[:], &m.dowExp, &m.dowOff)
}

// dayBucket returns daily bucket i of the profile.
func (m *Model) dayBucket(i int) float64 { return blockValue(m.day[i], m.dayExp, m.dayOff) }

// dowOffset returns the day-of-week offset of weekday i (0 for Monday).
func (m *Model) dowOffset(i int) float64 { return blockValue(m.dow[i], m.dowExp, m.dowOff) }

// maxVisits is the count at which a daily bucket's visits saturate: from
// there on the bucket learns at Config.SeasonRate.
const maxVisits = 15

// visits returns how many points daily bucket b has learned, up to
// maxVisits (the counts are kept in 4 bits each).
func (m *Model) visits(b int) int {
	return int(m.dayCnt[b>>1]>>(4*(b&1))) & maxVisits
}

// visit counts a point of daily bucket b.
func (m *Model) visit(b int) {
	if m.visits(b) < maxVisits {
		m.dayCnt[b>>1] += 1 << (4 * (b & 1))
	}
}

// bucketRate is the rate at which a daily bucket that has learned n points
// learns the next: 1/(n+1) (the mean of its points) while that is above
// rate, rate from then on and once n saturates at maxVisits.
func bucketRate(rate float64, n int) float64 {
	if n >= maxVisits {
		return rate
	}
	return fmath.Max(rate, visitRates[n&maxVisits])
}

// visitRates[n] is 1/(n+1).
var visitRates = func() (r [maxVisits + 1]float64) {
	for n := range r {
		r[n] = 1 / float64(n+1)
	}
	return r
}()

// profile returns the full seasonal component (daily + day of week) at ts,
// whether or not it is in use.
func (m *Model) profile(tsMs int64) float64 {
	p := posAt(tsMs)
	return m.profileAt(&p)
}

// season returns the seasonal component in use at ts (0 without a cycle).
func (m *Model) season(tsMs int64) float64 {
	if m.flags&flagSeasonal == 0 {
		return 0
	}
	return m.profile(tsMs)
}

// level returns the fast level in use: deseasonalised with a cycle, raw
// without.
func (m *Model) level() float64 {
	if m.flags&flagSeasonal == 0 {
		return m.fastP
	}
	return m.fast
}

// floorFor is the smallest scale allowed for values around level: it keeps
// z finite on constant stretches.
func floorFor(level float64) float64 { return 1e-9 + 1e-6*math.Abs(level) }

// components are the per-point quantities shared by scoring and learning.
type components struct {
	seas     float64 // seasonal component in use
	full     float64 // full profile value (learning)
	pos      dayAt   // where the point falls in the day and the week (posAt)
	expFast  float64
	expSlow  float64
	sFast    float64 // sigma around expFast
	sSlow    float64 // sigma around expSlow
	sPlain   float64 // sigma around plain
	pRaw     float64 // sigma around plain without a floor (stream.Scale.Unfloored)
	z        [numCal]float64
	change   float64 // updated change statistic
	surprise float64 // calibrated: max |z_i| / q_i
	raw      float64 // raw anomaly score in [0,1] fed to the likelihood
	newRange bool    // the value left the learned range
	detector Detector
	score    float64    // after suppression
	rawScore float64    // before suppression
	gap      bool       // the point follows a gap longer than MaxGapMs
	spanOK   bool       // the series has RangeSpanMs of history
	wLo, wHi float64    // the band without the confirmation hull (ConfirmZ): a normal point outside it is weak evidence
	cLo, cHi float64    // a point beyond confirms the weak evidence of the one before (ConfirmZ), else ±Inf
	weak     int8       // the point is weak evidence above (+1) or below (-1) the expectation
	pois     bool       // a count series judged against Poisson tails (countEdges)
	pLo, pHi [2]float64 // counts inside are within the Poisson tail of NoveltyMinZ [0] and ConfirmZ [1] scales
	step     float64    // slope per point of a significant trend carrying the learned range (trendStep), else 0
	spanLo   float64    // the learned range for the point, m.span(step), computed once
	spanHi   float64
	far      bool    // the point lies beyond the gates (gates) of the fast or the slow expectation
	local    int64   // the timestamp in the profile's local time (Config.Location)
	sClipLo  float64 // the novelty detector's smoothed value follows the point clipped to
	sClipHi  float64 // [sClipLo, sClipHi] (SmoothClipZ), else ±Inf
	capLo    float64 // the band's cap where no detector could alert (capBand)
	capHi    float64
	still    bool // a normal point that keeps the open anomaly open: a later point of a stuck run (stuck.go), or a repeat beyond bandCapZ scales (capBand)

	d *derived // the Config's derived constants (derived.go)
}

// compute is computeWith with c's derived constants (see consts; it
// allocates them, for queries and tests; the update path uses
// computeWith).
func (m *Model) compute(c *Config, tsMs int64, v float64) components {
	var dv derived
	k := components{d: c.consts(&dv)}
	m.computeWith(&k, c, tsMs, v)
	return k
}

// computeWith fills k, zero but for k.d (the Config's derived constants,
// set by the caller), for the point (tsMs, v). It fills a caller's k in
// place rather than return one: the components are 300 bytes.
func (m *Model) computeWith(k *components, c *Config, tsMs int64, v float64) {
	k.gap = m.n > 0 && c.MaxGapMs > 0 && tsMs-m.lastTs > c.MaxGapMs
	k.local = c.localMs(tsMs)
	k.pos = posAt(k.local)
	k.full = m.profileAt(&k.pos)
	if m.flags&flagSeasonal != 0 {
		k.seas = k.full // m.season(k.local), without computing it twice
	}
	k.expFast = m.level() + k.seas
	k.sFast = m.fastS.Sigma(c.MeanFloor, floorFor(m.level()))
	// The slow detector's prediction is the slow level with its trend
	// plus the profile it is learned around, whether or not the cycle is
	// in use for the fast expectation: a trend is predicted, not left to
	// look like a drift away from a plain level.
	k.expSlow = m.slow + m.trend + k.full
	k.sSlow = m.slowS.Sigma(c.MeanFloor, floorFor(m.slow))
	k.pRaw = m.plainS.Unfloored(c.MeanFloor)
	k.sPlain = fmath.Max(k.pRaw, floorFor(m.plain))
	k.z[calFast] = (v - k.expFast) / k.sFast
	k.z[calSlow] = (v - k.expSlow) / k.sSlow
	k.sClipLo, k.sClipHi = math.Inf(-1), math.Inf(1)
	if zc := c.SmoothClipZ; zc > 0 && int(m.n) >= c.MinPoints {
		k.sClipLo, k.sClipHi = k.expFast-zc*k.sFast, k.expFast+zc*k.sFast
	}
	a := c.ChangeRate
	k.change = float64(m.change) + a*(stream.Clip(k.z[calFast], c.HuberK)-float64(m.change))
	k.z[calChange] = k.change / k.d.changeNorm

	// Calibrate: each |z| over its running quantile, weighted; the largest
	// wins. Its surprise (as if it were a normal z scaled to CalibMin) is
	// mapped to the raw score fed to the likelihood.
	for i, det := range [numCal]Detector{DetectorSpike, DetectorLevel, DetectorChange} {
		q := fmath.Max(float64(m.cal[i].Q), c.CalibMin)
		if u := math.Abs(k.z[i]) / q * c.Weights[i]; u > k.surprise {
			k.surprise, k.detector = u, det
		}
	}
	best := stream.Surprise(k.surprise * c.CalibMin)
	k.raw = fmath.Min(c.RawMax, fmath.Max(0, (best-c.RawLo)/(c.RawHi-c.RawLo)))
	gf, gs := m.gates(c)
	k.far = math.Abs(k.z[calFast]) >= gf || math.Abs(k.z[calSlow]) >= gs
	m.countEdges(c, k)
	if k.pois && v > k.pLo[0] && v < k.pHi[0] {
		k.far = false
	}
	k.spanOK = tsMs-m.firstTs >= c.RangeSpanMs
	k.step = m.trendStep(c, k.sSlow)
	k.spanLo, k.spanHi = m.span(k.step)
	if c.RangeTol > 0 && m.n > 1 {
		lo, hi := k.spanLo, k.spanHi
		tol := c.RangeTol * (hi - lo)
		if (v > hi+tol || v < lo-tol) && m.rangeCalm(c) &&
			k.spanOK && k.raw < 1 {
			k.raw, k.newRange, k.detector = 1, true, DetectorLevel
		}
	}
	if k.detector == DetectorLevel && m.flags&flagSeasonal != 0 {
		k.detector = DetectorSeasonal
	}
	lp := c.likParams()
	ls := m.lik.Surprise(m.lik.Next(k.raw, &lp), &lp)
	k.rawScore = ls / (ls + c.LikScale)
	if math.IsNaN(k.rawScore) {
		k.rawScore = 1
	}
	k.score = k.rawScore
	if k.score < float64(m.peak) {
		k.score *= c.SuppressDamp
	}
	if m.hold > 0 && k.score <= m.holdBar(c) {
		k.score = fmath.Min(k.score, c.Escalate*c.HoldCap)
	}
}

// result turns the adaptive detectors' components, the band [lo, hi]
// (preBand) and the novelty score ns into the verdict, written to r (in
// place: a returned copy is stored field by field and read back in 16-byte
// moves, which stalls). post is the novelty detector after the point (its
// Kind names what fired).
func (m *Model) result(c *Config, k *components, lo, hi float64, post *novelty.Detector, ns float64, v float64, r *Result) {
	if int(m.n) < c.MinPoints {
		e := v
		if m.n > 0 {
			e = k.expFast
		}
		e = finite(e, v)
		lo, hi := learningBand(e, k.sFast)
		*r = Result{Expected: e, Lower: lo, Upper: hi, State: anomaly.StateLearning,
			NeedPoints: c.MinPoints - int(m.n) - 1}
		return
	}
	*r = Result{
		Expected: k.expFast,
		Z:        k.z[calFast],
		State:    anomaly.StateNormal,
	}
	r.Lower, r.Upper = lo, hi
	// The adaptive score alerts on its own from Escalate on (mapped to
	// [Threshold, 1]); below it, it grades the score under Threshold.
	det := k.detector
	// Both kinds of alert need the point itself to be far from the robust
	// baseline: the likelihood is very sensitive on quiet series, and a new
	// record by a hair of noise is not news.
	far := k.far
	if k.score >= c.Escalate && far {
		r.Score = c.Threshold + (1-c.Threshold)*fmath.Min(k.score, 1)
	} else {
		r.Score = 0.9 * c.Threshold * k.score / c.Escalate
	}
	// A new record by a hair of noise is not surprising to the robust
	// baseline: the novel value must also lie NoveltyMinZ scales away from
	// the fast or the slow expectation.
	if ns > 0 && !far {
		ns = 0
	}
	if ns > r.Score {
		r.Score = ns
		det = noveltyDetector(post.Kind())
	}
	// The band is the verdict: outside it the point is anomalous and
	// scores at least Threshold, inside it is normal and scores below.
	if v < r.Lower || v > r.Upper {
		r.State = anomaly.StateAnomalous
		r.Score = fmath.Max(r.Score, c.Threshold)
		if v > k.cHi || v < k.cLo {
			// confirms the weak evidence of the point before
			r.Score = fmath.Max(r.Score, c.Threshold+(1-c.Threshold)/2)
		}
		if det == DetectorNone || r.Score == c.Threshold && ns == 0 && k.score < c.Escalate {
			det = m.edgeDetector(k, v)
		}
		if r.Score == c.Threshold {
			// No scoring path reached the threshold (the hull or the cap
			// decided): a new record still scores as the record it is.
			r.Score = fmath.Max(r.Score, m.recordScore(c, k, v))
		}
		r.Detector = det
		if det == DetectorSeasonal && m.flags&flagSeasonal == 0 {
			// a time-of-day novelty on a series without a learned cycle
			r.Detector = DetectorLevel
		}
		switch r.Detector {
		case DetectorLevel, DetectorSeasonal:
			r.Z = k.z[calSlow]
		case DetectorChange:
			r.Z = k.z[calChange]
		}
	} else {
		if r.Score >= c.Threshold {
			r.Score = belowThreshold * c.Threshold
		}
		switch {
		case v > k.wHi:
			k.weak = 1
		case v < k.wLo:
			k.weak = -1
		}
		if m.flags&flagOpen != 0 && math.Abs(v-k.expFast) > bandCapZ*k.sFast {
			// A value the series has shown, beyond bandCapZ scales, while
			// every detector suppresses repeats (capBand): it continues
			// the open anomaly.
			k.still = true
		}
	}
	if r.State != anomaly.StateAnomalous && m.stuck(c, k, v) {
		// Not a band verdict: the value is ordinary, its stillness is not.
		// The run's first stuck point is the evidence; a later one while
		// its anomaly is open only continues it (stuck.go).
		if int(m.flat)+1 > m.stuckAfter(c) && m.flags&flagOpen != 0 {
			k.still = true
		} else {
			r.State, r.Detector, r.Score = anomaly.StateAnomalous, DetectorStuck, c.Threshold+(1-c.Threshold)/2
		}
	}
	r.Expected = finite(r.Expected, v)
	r.Lower = finite(r.Lower, r.Expected)
	r.Upper = finite(r.Upper, r.Expected)
	r.Z = finite(r.Z, 0)
	r.Score = finite(r.Score, 0)
}

// holdBar is the score a point must pass during a hold to alert: the
// score of the alert that started the hold, raised HoldRise of the way to 1.
func (m *Model) holdBar(c *Config) float64 {
	h := float64(m.held)
	return h + c.HoldRise*(1-h)
}

// noveltyDetector names the range a novel point left: a new extreme of the
// series is a level anomaly, a new extreme of its smoothed value a change
// point, a value new for its time of day a seasonal anomaly.
func noveltyDetector(k novelty.Kind) Detector {
	switch k {
	case novelty.KindSmooth:
		return DetectorChange
	case novelty.KindSlot:
		return DetectorSeasonal
	}
	return DetectorLevel
}

// finite returns x when it is finite, else fallback when that is, else 0.
// x-x is 0 exactly for a finite x (NaN for NaN and for either infinity):
// one subtraction and one compare per value, where IsNaN and IsInf took
// three compares, on each of the verdict's five fields.
func finite(x, fallback float64) float64 {
	if x-x == 0 {
		return x
	}
	if fallback-fallback == 0 {
		return fallback
	}
	return 0
}

// Peek returns the verdict for (ts, v) without learning it.
func (m *Model) Peek(c *Config, tsMs int64, v float64) Result { return m.peek(c, tsMs, v, nil) }

func (m *Model) peek(c *Config, tsMs int64, v float64, b *Bounds) Result {
	if m.n == 0 || !ValueInRange(v) {
		r := m.learningResult(c, v)
		b.apply(c, &r, v)
		return r
	}
	var dv derived
	k := components{d: c.consts(&dv)}
	m.computeWith(&k, c, tsMs, v)
	lo, hi := m.preBand(c, &k, tsMs)
	nd := m.nov
	ns := nd.UpdateClip(&c.Novelty, k.local, v, k.sClipLo, k.sClipHi, m.pointMask(c, &k, v))
	var r Result
	m.result(c, &k, lo, hi, &nd, ns, v, &r)
	b.apply(c, &r, v)
	return r
}

// preBand is the band of the point (band) once the model gives verdicts,
// from the novelty detector as it was before the point: update takes it
// before the detector learns the point in place. While the model learns
// it is not needed (result) and not computed.
func (m *Model) preBand(c *Config, k *components, tsMs int64) (lo, hi float64) {
	if int(m.n) < c.MinPoints {
		return 0, 0
	}
	return m.band(c, k, tsMs)
}

func (m *Model) learningResult(c *Config, v float64) Result {
	r := Result{State: anomaly.StateLearning, NeedPoints: max(c.MinPoints-int(m.n), 0)}
	if m.n >= uint32(c.MinPoints) {
		r.State = anomaly.StateNormal
	}
	e := finite(v, m.level())
	if m.n > 0 {
		e = finite(m.level()+m.season(c.localMs(m.lastTs)), e)
	}
	r.Expected = e
	r.Lower, r.Upper = learningBand(e, m.fastS.Sigma(c.MeanFloor, floorFor(e)))
	return r
}

// Update scores and learns one point. A point at or before the last learned
// timestamp, or with a non-finite value or one beyond ±MaxValue, is scored
// (against the baseline as it is) but not learned.
func (m *Model) Update(c *Config, tsMs int64, v float64) Result { return m.update(c, tsMs, v, nil) }

func (m *Model) update(c *Config, tsMs int64, v float64, b *Bounds) Result {
	if !ValueInRange(v) {
		return m.learningResult(c, v)
	}
	if m.n == 0 {
		m.init(tsMs, v)
		m.nov.Update(&c.Novelty, c.localMs(tsMs), v)
		lo, hi := learningBand(v, floorFor(v))
		r := Result{Expected: v, Lower: lo, Upper: hi, State: anomaly.StateLearning,
			NeedPoints: max(c.MinPoints-1, 0), Learned: true}
		if c.MinPoints <= 1 {
			r.State, r.NeedPoints = anomaly.StateNormal, 0
		}
		if b.apply(c, &r, v) {
			m.transition(c, &r)
		}
		m.setLast(&r)
		return r
	}
	if tsMs <= m.lastTs {
		return m.peek(c, tsMs, v, b) // scored, not learned
	}
	var dv derived
	k := components{d: c.consts(&dv)}
	m.computeWith(&k, c, tsMs, v)
	lo, hi := m.preBand(c, &k, tsMs)
	// The novelty detector learns the point in place, the band taken.
	ns := m.nov.UpdateClip(&c.Novelty, k.local, v, k.sClipLo, k.sClipHi, m.pointMask(c, &k, v))
	var r Result
	m.result(c, &k, lo, hi, &m.nov, ns, v, &r)
	b.apply(c, &r, v)
	r.Learned = true
	m.learn(c, &k, tsMs, v)
	if k.still && r.State != anomaly.StateAnomalous {
		r.Transition, m.run = TransitionUpdated, 0
	} else {
		m.transition(c, &r)
	}
	m.setLast(&r)
	return r
}

// setLast keeps r as the last verdict, in its compact form (field by
// field: a Result32 built and copied is read back in wider moves than it
// was stored in, which stalls).
func (m *Model) setLast(r *Result) {
	l := &m.last
	l.Expected, l.Lower, l.Upper = clamp32(r.Expected), clamp32(r.Lower), clamp32(r.Upper)
	l.Score, l.Z = clamp32(r.Score), clamp32(r.Z)
	l.State, l.Detector = r.State, r.Detector
}

func (m *Model) init(tsMs int64, v float64) {
	*m = Model{}
	m.n = 1
	m.firstTs, m.lastTs, m.lastV = tsMs, tsMs, v
	m.fast, m.fastP, m.slow, m.plain = v, v, v, v
	m.lo, m.hi = v, v
	if isCount(v) {
		m.flags |= flagCount
	}
}

func (m *Model) transition(c *Config, r *Result) {
	open := m.flags&flagOpen != 0
	if r.State == anomaly.StateAnomalous {
		if open {
			r.Transition = TransitionUpdated
			m.run = 0
			return
		}
		if m.run < math.MaxUint16 {
			m.run++
		}
		if int(m.run) >= c.OpenAfter {
			m.flags |= flagOpen
			m.run = 0
			r.Transition = TransitionOpened
		}
		return
	}
	if !open {
		m.run = 0
		return
	}
	if m.run < math.MaxUint16 {
		m.run++
	}
	if int(m.run) >= c.ResolveAfter {
		m.flags &^= flagOpen
		m.run = 0
		r.Transition = TransitionResolved
	} else {
		r.Transition = TransitionUpdated
	}
}

func (m *Model) learn(c *Config, k *components, tsMs int64, v float64) {
	dt := tsMs - m.lastTs
	// Running median of the step, in multiplicative steps of 5%.
	if m.stepMs <= 0 {
		m.stepMs = float32(dt)
	} else if float32(dt) > m.stepMs {
		m.stepMs *= 1.05
	} else if float32(dt) < m.stepMs {
		m.stepMs /= 1.05
	}
	if k.gap {
		// The baseline may be stale after a long gap: anchor the levels at
		// this point, keep the scales and the profile.
		m.slow = v - k.full
		m.plain = v
		m.fast = v - k.full
		m.fastP = v
		m.trend = 0
		m.change = 0
	}
	n := float64(m.n)
	hk := c.HuberK
	// The first points use larger rates (running means) so that the
	// baseline starts from the data, not from zero. Once (n+1) times the
	// smallest rate exceeds 1 (as rounded: then also exactly), 1/(n+1) and
	// its rounding lie at or below every rate, and each use of warm below
	// gives the rate: no division.
	warm := 0.0
	if n1 := n + 1; !(n1*fmath.Min(fmath.Min(c.LevelRate, c.ScaleRate), c.SlowRate) > 1) {
		warm = 1 / n1
	}

	// Calibration quantiles learn the series' own distribution of |z|,
	// once the scales have settled.
	for i := range m.cal {
		if int(m.n) < c.MinPoints {
			break
		}
		if m.cal[i].Q == 0 {
			m.cal[i].Q = float32(c.CalibInit)
		}
		m.cal[i].UpdateStep(fmath.Min(math.Abs(k.z[i]), 1e30), &k.d.cal, c.CalibMin)
	}

	// Fast level and scale.
	rf := v - k.expFast
	la := fmath.Max(c.LevelRate, warm)
	m.fast += la * stream.Clip(v-k.full-m.fast, hk*k.sFast)
	m.fastP += la * stream.Clip(v-m.fastP, hk*k.sFast)
	m.fastS.UpdateGrowth(math.Abs(rf), growth(c.ScaleRate, warm, k.d.growFast), c.ScaleRate/2)
	m.change = float32(k.change)

	// Slow level with damped trend, around the full profile.
	sa := fmath.Max(c.SlowRate, warm)
	ds := v - k.full - m.slow - m.trend
	sSig := k.sSlow // the slow scale and level as computeWith found them
	if k.gap {
		sSig = m.slowS.Sigma(c.MeanFloor, floorFor(m.slow))
	}
	prev := m.slow
	m.slow += m.trend + sa*stream.Clip(ds, hk*sSig)
	if c.TrendRate > 0 && m.n > 2 {
		m.trend = 0.99 * (m.trend + c.TrendRate*((m.slow-prev)-m.trend))
	}
	m.slowS.UpdateGrowth(math.Abs(ds), growth(c.SlowRate*4, warm, k.d.growSlow), c.SlowRate*2)
	dp := v - m.plain
	pSig := k.sPlain
	if k.gap {
		pSig = m.plainS.Sigma(c.MeanFloor, floorFor(m.plain))
	}
	m.plain += sa * stream.Clip(dp, hk*pSig)
	m.plainS.UpdateGrowth(math.Abs(dp), growth(c.SlowRate*4, warm, k.d.growSlow), c.SlowRate*2)

	// Seasonal profile: the residual around the slow level, clipped.
	e := stream.Clip(v-m.slow-k.full, hk*sSig)
	b0, b1, w := k.pos.b0, k.pos.b1, k.pos.w
	near := b0
	if w >= 0.5 {
		near = b1
	}
	m.visit(near)
	g0 := bucketRate(c.SeasonRate, m.visits(b0))
	g1 := bucketRate(c.SeasonRate, m.visits(b1))
	d0, d1 := g0*(1-w)*e, g1*w*e
	// The profile keeps a zero mean: what the two buckets gain, every
	// bucket loses, through the common offset rather than 24 stores; the
	// offset is folded into the buckets every dayFold points, so that
	// the buckets stay near the profile and keep their precision.
	// The buckets are rounded stochastically (profile16.go); the offset
	// takes what they really gained.
	u0, u1, u2 := dither(m.n, tsMs)
	added := addBlock(m.day[:], &m.dayExp, b0, d0, u0)
	added += addBlock(m.day[:], &m.dayExp, b1, d1, u1)
	m.dayOff -= float32(added / dayBins)
	wd := k.pos.wd
	if span := tsMs - m.firstTs; span < minSeason {
		// The daily profile is still taking shape; what it leaves is
		// not a day-of-week effect.
	} else if m.dowCnt[wd] < math.MaxUint16 {
		m.dowCnt[wd]++
	}
	// Day-of-week offsets learn what the daily profile leaves, slowly.
	if m.dowCnt[wd] > 0 {
		// max(SeasonRate/50, 1/(count+1)), the division skipped as for warm
		gw := c.SeasonRate / 50
		if n1 := float64(m.dowCnt[wd]) + 1; !(n1*gw > 1) {
			gw = fmath.Max(gw, 1/n1)
		}
		// what one offset gains, all lose, through the common offset
		dw := addBlock(m.dow[:], &m.dowExp, wd, gw*(e-(d0+d1)), u2)
		m.dowOff -= float32(dw / 7)
	}
	if m.n%dayFold == 0 {
		m.foldDay()
	}

	// Use the profile while it explains the data better than a level; call
	// the cycle weekly once a week has been seen and the day-of-week
	// offsets matter (some offset beyond one residual sigma).
	span := tsMs - m.firstTs
	m.flags &^= flagSeasonal | flagWeekly
	if span >= minSeason && float64(m.slowS.Med) < c.SeasonGain*float64(m.plainS.Med) {
		m.flags |= flagSeasonal
		if span >= minWeek {
			// Some offset beyond sSig: the largest or the smallest, as
			// their mantissas are (an offset grows with its mantissa, the
			// step being positive, rounding included).
			hi, lo := m.dow[0], m.dow[0]
			for _, x := range m.dow[1:] {
				hi, lo = max(hi, x), min(lo, x)
			}
			if blockValue(hi, m.dowExp, m.dowOff) > sSig || blockValue(lo, m.dowExp, m.dowOff) < -sSig {
				m.flags |= flagWeekly
			}
		}
	}

	if c.LikShortRate > 0 && int(m.n) >= c.MinPoints {
		lp := c.likParams()
		m.lik.Fold(k.raw, &lp)
	}
	lo, hi := k.spanLo, k.spanHi
	if v < lo || v > hi {
		m.lo, m.hi = min(lo, v), max(hi, v)
		m.calm = 0
	} else {
		m.lo, m.hi = lo, hi
		if m.calm < math.MaxUint32 {
			m.calm++
		}
	}

	// Hold after an alert.
	if k.score >= c.Escalate && c.HoldPoints > 0 && k.far {
		m.hold = uint16(min(c.HoldPoints, math.MaxUint16))
		m.held = float32(k.score)
	} else if m.hold > 0 {
		m.hold--
	}

	// Suppression peak.
	m.peak = float32(fmath.Max(float64(m.peak)*c.SuppressDecay, k.rawScore))

	if !isCount(v) {
		m.flags &^= flagCount
	}
	m.flags &^= flagWeakUp | flagWeakDown
	switch {
	case k.weak > 0:
		m.flags |= flagWeakUp
	case k.weak < 0:
		m.flags |= flagWeakDown
	}

	m.n++
	m.learnFlat(c, v)
	m.lastTs, m.lastV = tsMs, v
}
