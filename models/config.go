package models

import (
	"errors"
	"fmt"
	"time"

	"github.com/anomalyd/detector/algorithms/likelihood"
	"github.com/anomalyd/detector/algorithms/novelty"
)

// Config holds the model parameters shared by every series of an engine.
// Rates are per learned point and lie in (0, 1]: a rate a remembers about
// the last 1/a points. The zero Config is not valid; start from
// DefaultConfig and change what you need.
type Config struct {
	// MinPoints is the history a series needs before it is judged
	// (default 48). Until then every verdict is `learning` with NeedPoints
	// set, and the score is 0.
	MinPoints int
	// Threshold is the score in [0,1] at or above which a point is
	// anomalous (default DefaultThreshold).
	Threshold float64
	// Escalate is the score of the adaptive detectors (spike, level,
	// seasonal, changepoint: robust z-scores calibrated to the series' own
	// history and turned into an anomaly likelihood) at or above which they
	// raise an alert on their own, whatever the novelty detector says
	// (default 0.6). Below it they only grade the score under Threshold.
	Escalate float64
	// Novelty configures the range-novelty detector: a value outside
	// everything the series has shown (raw, smoothed, or for its time of
	// day). See package algorithms/novelty.
	Novelty novelty.Config
	// NoveltyMinZ: a novel value counts only when its robust z against the
	// fast or the slow baseline is at least this large, so that noise
	// setting a new record by a hair does not alert (default 3).
	NoveltyMinZ float64
	// GateCalib raises that gate, per detector, to GateCalib times the
	// detector's calibration quantile of past |z| (CalibP) when larger, so
	// that the gate follows the series' own tails (0 disables).
	GateCalib float64
	// SmoothClipZ: the novelty detector's smoothed value follows each
	// point clipped to SmoothClipZ fast robust scales around the fast
	// expectation (0: unclipped), so that one outlier of heavy-tailed
	// noise cannot drag it to a record of its own.
	SmoothClipZ float64
	// SlotNeedsCycle: a value new for its time of day (the novelty
	// detector's slot ranges) counts only while the series' daily cycle is
	// in use (default false: on ../shared/nab it costs one window; on the
	// healthy suite it removes about a seventh of the false alarms).
	SlotNeedsCycle bool
	// RecordCalm: a new extreme of the raw value (the novelty detector's
	// raw range and the learned-range rule) counts only when the previous
	// one lies at least RecordCalm times the series' history back (default
	// 0: always). A trending series sets records all the time.
	RecordCalm float64
	// RecordTrend: while the slow level's trend carries the level by at
	// least RecordTrend slow sigmas over its memory (1/SlowRate points),
	// the learned range's end in the trend's direction moves with the
	// trend, and a new extreme (the novelty detector's raw range and the
	// learned-range rule) counts only beyond it (default 1; 0 disables;
	// see span).
	RecordTrend float64
	// ConfirmZ and ConfirmNext: a point that would alert while lying
	// within ConfirmZ robust scales of both the fast and the slow
	// expectation is weak evidence: normal on its own, it makes the next
	// point anomalous when that one lies ConfirmNext scales beyond either
	// expectation on the same side (ConfirmZ 0 disables).
	ConfirmZ, ConfirmNext float64
	// CountAware: on a series of small counts (every value a non-negative
	// integer, expectation at most maxPoissonMean) a point is far (see
	// NoveltyMinZ) or strong (ConfirmZ) only when its Poisson tail at the
	// slow expectation is as small as the normal tail at that many scales
	// (default true; see counts.go).
	CountAware bool
	// StuckMin, StuckFactor, StuckTol and StuckLearn set the stuck
	// detector (stuck.go): a run of points that do not move (by at most
	// StuckTol times the long-run noise sigma) is stuck from StuckMin
	// points on and from StuckFactor times the longest ordinary run the
	// series has shown, once it has StuckLearn points of history (defaults
	// 12, 4, 0.01, 288; StuckMin 0 disables).
	StuckMin    int
	StuckFactor float64
	StuckTol    float64
	StuckLearn  int
	// OpenAfter anomalous points in a row open an anomaly (default 1).
	OpenAfter int
	// ResolveAfter normal points in a row resolve it (default 3).
	ResolveAfter int

	// LevelRate is the rate of the fast robust level that gives the
	// expected value (default 0.4: the expected value follows the last few
	// points, so the spike detector watches jumps).
	LevelRate float64
	// TrendRate is the rate at which the slow level's slope is learned
	// (damped by 1% per point); 0 disables the trend (default 0.005).
	TrendRate float64
	// ScaleRate is the rate of the running median of absolute residuals
	// that gives the fast scale (default 0.02; a doubling of volatility is
	// followed in about ln2/ScaleRate = 35 points).
	ScaleRate float64
	// HuberK clips a residual at HuberK scales before it moves a level or
	// the seasonal profile, so one outlier cannot drag the baseline
	// (default 3).
	HuberK float64
	// SlowRate is the rate of the slow levels (raw and deseasonalised)
	// watched by the level detector; their scales learn at 4*SlowRate
	// (default 0.002, about 500 points).
	SlowRate float64
	// ChangeRate is the rate of the short mean of standardised fast
	// residuals watched by the change-point detector (default 0.2).
	ChangeRate float64

	// SeasonRate is the rate at which an hourly bucket of the daily
	// profile learns from a point falling in it, after its first visits
	// (which take running means) (default 0.05).
	SeasonRate float64
	// SeasonGain: the cycle is used while the robust residual scale around
	// slow level + profile is below SeasonGain times the scale around the
	// plain slow level (default 0.8: at least 20% smaller), and after 2
	// days of history.
	SeasonGain float64

	// MeanFloor keeps a scale from collapsing on zero-inflated or quantised
	// series: sigma is at least MeanFloor times the sigma implied by the
	// mean absolute residual (default 0.5).
	MeanFloor float64
	// CalibP, CalibRate, CalibMin and CalibInit calibrate every detector
	// to the series' own history: its |z| is divided by the running
	// CalibP-quantile of its past |z| (learned at rate CalibRate, never
	// below CalibMin, starting at CalibInit once MinPoints are learned), so
	// a series that often jumps by 5 sigma needs more than that to alert
	// (defaults 0.995, 0.1, 2.5, 10).
	CalibP, CalibRate, CalibMin, CalibInit float64
	// Weights multiply the calibrated surprise of the spike, level and
	// change-point detectors (defaults 0.7, 1, 0.7).
	Weights [3]float64
	// RawLo, RawHi and RawMax map the largest calibrated surprise u to the
	// raw anomaly score fed to the likelihood: s = -log10 of the two-sided
	// normal tail of u*CalibMin, raw = clamp((s-RawLo)/(RawHi-RawLo), 0,
	// RawMax) (defaults 0, 20, 3).
	RawLo, RawHi, RawMax float64
	// RangeTol: a value beyond the learned minimum or maximum by more than
	// RangeTol times the learned range has raw score at least 1 (default
	// 0.02; 0 disables), provided the range has not grown for RangeCalm
	// points (default 20) and the series has RangeSpanMs of history
	// (default 1 day): while a series explores its range (the first cycle
	// of a daily series) new extremes are not news.
	RangeTol    float64
	RangeCalm   int
	RangeSpanMs int64
	// LikShortRate, LikLongRate, LikMinMean, LikMinVar and LikScale set
	// the anomaly likelihood (see algorithms/likelihood): the EW mean of
	// the raw score at LikShortRate is compared with the long-run mean and
	// variance of that mean (rate max(1/n, LikLongRate), floored at
	// LikMinMean and LikMinVar); with s = -log10 of its upper tail
	// probability the score is s/(s+LikScale) (defaults 0.4, 0.001, 0.03,
	// 0.0003, 10).
	LikShortRate, LikLongRate, LikMinMean, LikMinVar, LikScale float64
	// SuppressDecay and SuppressDamp control repeated alerts: a score below
	// the recent peak score, which decays by SuppressDecay per point, is
	// multiplied by SuppressDamp (defaults 0.99 and 0: within about the
	// next hundred points only a stronger event scores).
	SuppressDecay, SuppressDamp float64
	// HoldPoints and HoldCap: after a point alerts through the adaptive
	// detectors (score at or above Escalate, far from the baseline), the
	// next HoldPoints points score at most HoldCap*Escalate there unless
	// they pass the bar HoldRise sets (defaults 10 and 0.9; 0 points: off).
	HoldPoints int
	HoldCap    float64
	// HoldRise raises the bar during a hold: a point escapes it only by
	// scoring above held + HoldRise*(1-held) (default 1: none escapes, one
	// excursion gives one adaptive alert, as the novelty detector's Quiet;
	// 0: a point scoring above the alert that started the hold escapes).
	HoldRise float64
	// Location is the time zone of the daily profile, the day-of-week
	// offsets and the novelty detector's time-of-day slots (nil: UTC). A
	// series whose day follows local business hours keeps its cycle
	// across daylight-saving changes when this is its zone.
	Location *time.Location
	// MaxGapMs is the gap after which the levels are re-anchored at the
	// next point instead of being trusted; scales, calibration and the
	// profile are kept (default 7 days).
	MaxGapMs int64

	prep derived // constants derived from the fields above (derived.go)
}

// DefaultThreshold is Config.Threshold's default: the service alerts on
// the detections NAB's standard-profile sweep picks for DefaultConfig on
// ../shared/nab (the sweep picks 0.5422; every threshold in (0.5395,
// 0.5422] makes the same detections, as do the picks of one half of the
// cross-validation and of six of the seven leave-one-category-out folds;
// see benchmarks/nab/README.md). Every anomalous point scores at least
// this and every normal point less, and a novel value becomes anomalous
// at an excess of ScoreExcess(DefaultThreshold), about 0.8% of its range.
const DefaultThreshold = 0.54

// DefaultConfig returns the configuration `detector serve` runs with.
func DefaultConfig() Config {
	c := Config{
		MinPoints:      48,
		Threshold:      DefaultThreshold,
		Escalate:       0.6,
		Novelty:        novelty.DefaultConfig(),
		NoveltyMinZ:    3,
		SlotNeedsCycle: false,
		RecordTrend:    1,
		SmoothClipZ:    4,
		ConfirmZ:       4,
		ConfirmNext:    3,
		CountAware:     true,
		StuckMin:       12,
		StuckFactor:    4,
		StuckTol:       0.01,
		StuckLearn:     288,
		OpenAfter:      1,
		ResolveAfter:   3,
		LevelRate:      0.4,
		TrendRate:      0.005,
		ScaleRate:      0.02,
		HuberK:         3,
		SlowRate:       0.002,
		ChangeRate:     0.2,
		SeasonRate:     0.05,
		SeasonGain:     0.8,
		MeanFloor:      0.5,
		CalibP:         0.995,
		CalibRate:      0.1,
		CalibMin:       2.5,
		CalibInit:      10,
		RawLo:          0,
		RawMax:         3,
		RawHi:          20,
		RangeTol:       0.02,
		RangeCalm:      20,
		RangeSpanMs:    86400 * 1000,
		LikShortRate:   0.4,
		LikLongRate:    0.001,
		LikMinMean:     0.03,
		LikMinVar:      0.0003,
		LikScale:       10,
		SuppressDecay:  0.99,
		SuppressDamp:   0,
		Weights:        [3]float64{0.7, 1, 0.7},
		HoldPoints:     10,
		HoldRise:       1,
		HoldCap:        0.9,
		MaxGapMs:       7 * 86400 * 1000,
	}
	c.prep = c.derive()
	return c
}

func rate(name string, a float64) error {
	if !(a > 0 && a <= 1) {
		return fmt.Errorf("%s must be in (0,1], got %v", name, a)
	}
	return nil
}

// Validate reports the first invalid parameter. A valid c also stores the
// constants the model derives from it (derived.go), so that updates need
// not compute them on every point; call Validate again after changing c
// (a changed c is still judged right, only slower).
func (c *Config) Validate() error {
	switch {
	case c.MinPoints < 1:
		return errors.New("min points must be at least 1")
	case !(c.Threshold > 0 && c.Threshold <= 1):
		return errors.New("threshold must be in (0,1]")
	case !(c.Escalate > 0 && c.Escalate <= 1):
		return errors.New("escalate must be in (0,1]")
	case c.OpenAfter < 1:
		return errors.New("open-after must be at least 1")
	case c.ResolveAfter < 1:
		return errors.New("resolve-after must be at least 1")
	case !(c.TrendRate >= 0 && c.TrendRate <= 1):
		return fmt.Errorf("trend rate must be in [0,1], got %v", c.TrendRate)
	case !(c.HuberK > 0):
		return fmt.Errorf("huber k must be positive, got %v", c.HuberK)
	case !(c.SeasonGain > 0 && c.SeasonGain <= 1):
		return fmt.Errorf("season gain must be in (0,1], got %v", c.SeasonGain)
	case !(c.MeanFloor >= 0 && c.MeanFloor <= 1):
		return fmt.Errorf("mean floor must be in [0,1], got %v", c.MeanFloor)
	case !(c.CalibP > 0 && c.CalibP < 1):
		return fmt.Errorf("calibration quantile must be in (0,1), got %v", c.CalibP)
	case !(c.CalibMin > 0):
		return fmt.Errorf("calibration minimum must be positive, got %v", c.CalibMin)
	case !(c.RawHi > c.RawLo && c.RawMax > 0):
		return fmt.Errorf("raw mapping needs RawHi > RawLo and RawMax > 0, got %v %v %v", c.RawLo, c.RawHi, c.RawMax)
	case !(c.LikMinMean >= 0 && c.LikMinVar > 0 && c.LikScale > 0):
		return fmt.Errorf("likelihood floors and scale must be positive, got %v %v %v", c.LikMinMean, c.LikMinVar, c.LikScale)
	case !(c.CalibInit > 0):
		return fmt.Errorf("calibration start must be positive, got %v", c.CalibInit)
	case !(c.Weights[0] > 0 && c.Weights[1] > 0 && c.Weights[2] > 0):
		return fmt.Errorf("detector weights must be positive, got %v", c.Weights)
	case !(c.RangeTol >= 0) || c.RangeCalm < 0 || c.RangeSpanMs < 0:
		return errors.New("range parameters must not be negative")
	case !(c.SuppressDecay >= 0 && c.SuppressDecay < 1):
		return fmt.Errorf("suppress decay must be in [0,1), got %v", c.SuppressDecay)
	case !(c.SuppressDamp >= 0 && c.SuppressDamp <= 1):
		return fmt.Errorf("suppress damp must be in [0,1], got %v", c.SuppressDamp)
	case c.HoldPoints < 0 || c.HoldPoints > 65535:
		return fmt.Errorf("hold points must be in [0,65535], got %v", c.HoldPoints)
	case !(c.HoldRise >= 0 && c.HoldRise <= 1):
		return fmt.Errorf("hold rise must be in [0,1], got %v", c.HoldRise)
	case !(c.HoldCap >= 0 && c.HoldCap < 1):
		return fmt.Errorf("hold cap must be in [0,1), got %v", c.HoldCap)
	case c.StuckMin < 0 || c.StuckMin > 65535 || !(c.StuckFactor >= 0) || !(c.StuckTol >= 0) || c.StuckLearn < 0:
		return errors.New("stuck parameters must not be negative (and StuckMin at most 65535)")
	case !(c.RecordCalm >= 0 && c.RecordCalm <= 1):
		return fmt.Errorf("record calm must be in [0,1], got %v", c.RecordCalm)
	case c.MaxGapMs < 0:
		return fmt.Errorf("max gap must not be negative, got %v", c.MaxGapMs)
	}
	for _, r := range []struct {
		n string
		a float64
	}{{"level rate", c.LevelRate}, {"scale rate", c.ScaleRate}, {"slow rate", c.SlowRate},
		{"change rate", c.ChangeRate}, {"calibration rate", c.CalibRate},
		{"likelihood short rate", c.LikShortRate}, {"likelihood long rate", c.LikLongRate}, {"season rate", c.SeasonRate}} {
		if err := rate(r.n, r.a); err != nil {
			return err
		}
	}
	c.prep = c.derive()
	return nil
}

func (c *Config) likParams() likelihood.Params {
	return likelihood.Params{ShortRate: c.LikShortRate, LongRate: c.LikLongRate, MinMean: c.LikMinMean, MinVar: c.LikMinVar}
}

// localMs returns tsMs shifted by the offset of Location at that instant,
// so that the profile's hour and weekday are local ones.
func (c *Config) localMs(tsMs int64) int64 {
	if c.Location == nil || c.Location == time.UTC {
		return tsMs
	}
	_, off := time.UnixMilli(tsMs).In(c.Location).Zone()
	return tsMs + int64(off)*1000
}
