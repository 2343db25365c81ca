package models

import (
	"errors"
	"fmt"

	"github.com/anomalyd/detector/algorithms/likelihood"
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
	// anomalous (default: the threshold the NAB standard-profile sweep picks
	// for DefaultConfig, so the service alerts where the benchmark measured).
	Threshold float64
	// OpenAfter anomalous points in a row open an anomaly (default 1).
	OpenAfter int
	// ResolveAfter normal points in a row resolve it (default 3).
	ResolveAfter int

	// LevelRate is the rate of the fast robust level that gives the
	// expected value (default 0.1).
	LevelRate float64
	// TrendRate is the rate at which the level's slope is learned; 0
	// disables the trend (default 0.005).
	TrendRate float64
	// ScaleRate is the rate of the running median of absolute residuals
	// that gives the scale (default 0.02; a doubling of volatility is
	// followed in about ln2/ScaleRate points).
	ScaleRate float64
	// HuberK clips a residual at HuberK scales before it moves the level
	// and the seasonal profile, so one outlier cannot drag the baseline
	// (default 3).
	HuberK float64
	// SlowRate is the rate of the slow level and scale of the range
	// detector (default 0.002).
	SlowRate float64
	// ChangeRate is the rate of the short mean of standardised residuals
	// watched by the change-point detector (default 0.2).
	ChangeRate float64

	// SeasonRate is the rate at which a seasonal bucket learns when a point
	// falls in it (default 0.1).
	SeasonRate float64
	// SeasonGain is how much smaller the residual scale with the seasonal
	// profile must be than without it before the profile is used (default
	// 0.8: at least 20% smaller).
	SeasonGain float64

	// MeanFloor keeps a scale from collapsing on zero-inflated or quantised
	// series: sigma is at least MeanFloor times the sigma implied by the
	// mean absolute residual (default 0.5).
	MeanFloor float64
	// CalibP, CalibRate and CalibMin calibrate every detector to the
	// series' own history: its |z| is divided by the running CalibP-quantile
	// of its past |z| (learned at rate CalibRate, never below CalibMin), so
	// a series that often jumps by 5 sigma needs more than that to alert
	// (defaults 0.99, 0.05, 2.5).
	CalibP, CalibRate, CalibMin float64
	// CalibInit is where the calibration quantiles start once the series
	// has learned MinPoints: a cautious prior (a series is assumed to be
	// jumpy until its history shows otherwise; default 10).
	CalibInit float64
	// RawLo and RawHi map the largest detector surprise (-log10 of the
	// two-sided normal tail of its z) to the raw anomaly score in [0,1]
	// fed to the likelihood: RawLo and below is 0, RawHi and above is 1
	// (defaults 2 and 8). RawCalibrated uses calibrated z instead.
	RawLo, RawHi  float64
	RawCalibrated bool
	// RangeTol: a value beyond the learned minimum or maximum by more than
	// RangeTol times the learned range has raw score 1 (default 0.02; 0
	// disables).
	RangeTol float64
	// RangeCalm is how many points the range must have stayed put before a
	// new extreme counts: while a series is still exploring its range (the
	// first cycle of a seasonal series) new extremes are not news
	// (default 20).
	RangeCalm int
	// RangeSpanMs is the history (time since the first point) the series
	// needs before new extremes count: the first cycle of a daily series
	// explores its range (default 1 day).
	RangeSpanMs int64
	// RangeSigma widens the tolerance by that many fast sigmas: a record
	// that is barely above the noise is not news (default 0).
	RangeSigma float64
	// LikShortRate, LikLongRate, LikMinMean, LikMinVar and LikScale set
	// the anomaly likelihood (see algorithms/likelihood); the score is
	// min(1, -log10(tail)/LikScale). LikShortRate 0 disables the
	// likelihood and scores the calibrated surprise directly.
	LikShortRate, LikLongRate, LikMinMean, LikMinVar, LikScale float64
	// ScoreScale maps the calibrated surprise u (the largest ratio of a
	// detector's |z| to its quantile) to the score u/(u+ScoreScale), so that
	// u = ScoreScale scores 0.5 (default 2).
	ScoreScale float64
	// SuppressDecay and SuppressDamp control repeated alerts: the score is
	// damped by SuppressDamp unless it exceeds the recent peak score, which
	// decays by SuppressDecay per point (defaults 0.99 and 1: off).
	SuppressDecay, SuppressDamp float64
	// MaxGapMs is the gap after which the level is re-anchored at the next
	// point instead of being trusted (default 7 days).
	MaxGapMs int64
}

// DefaultConfig returns the configuration `detector serve` runs with.
func DefaultConfig() Config {
	return Config{
		MinPoints:     48,
		Threshold:     0.29,
		OpenAfter:     1,
		ResolveAfter:  3,
		LevelRate:     0.1,
		TrendRate:     0.005,
		ScaleRate:     0.02,
		HuberK:        3,
		SlowRate:      0.002,
		ChangeRate:    0.2,
		SeasonRate:    0.1,
		SeasonGain:    0.8,
		MeanFloor:     0.5,
		CalibP:        0.995,
		CalibRate:     0.1,
		CalibMin:      2.5,
		CalibInit:     10,
		ScoreScale:    2,
		RawLo:         1,
		RawHi:         10,
		RawCalibrated: true,
		RangeTol:      0.02,
		RangeCalm:     20,
		RangeSpanMs:   86400 * 1000,
		RangeSigma:    0,
		LikShortRate:  0.2,
		LikLongRate:   0.001,
		LikMinMean:    0.03,
		LikMinVar:     0.0003,
		LikScale:      10,
		SuppressDecay: 0.99,
		SuppressDamp:  0.3,
		MaxGapMs:      7 * 86400 * 1000,
	}
}

func rate(name string, a float64) error {
	if !(a > 0 && a <= 1) {
		return fmt.Errorf("%s must be in (0,1], got %v", name, a)
	}
	return nil
}

// Validate reports the first invalid parameter.
func (c *Config) Validate() error {
	switch {
	case c.MinPoints < 1:
		return errors.New("min points must be at least 1")
	case !(c.Threshold > 0 && c.Threshold <= 1):
		return errors.New("threshold must be in (0,1]")
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
	case !(c.ScoreScale > 0):
		return fmt.Errorf("score scale must be positive, got %v", c.ScoreScale)
	case !(c.SuppressDecay >= 0 && c.SuppressDecay < 1):
		return fmt.Errorf("suppress decay must be in [0,1), got %v", c.SuppressDecay)
	case !(c.SuppressDamp >= 0 && c.SuppressDamp <= 1):
		return fmt.Errorf("suppress damp must be in [0,1], got %v", c.SuppressDamp)
	case c.MaxGapMs < 0:
		return fmt.Errorf("max gap must not be negative, got %v", c.MaxGapMs)
	}
	for _, r := range []struct {
		n string
		a float64
	}{{"level rate", c.LevelRate}, {"scale rate", c.ScaleRate}, {"slow rate", c.SlowRate},
		{"change rate", c.ChangeRate}, {"calibration rate", c.CalibRate}, {"season rate", c.SeasonRate}} {
		if err := rate(r.n, r.a); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) likParams() likelihood.Params {
	return likelihood.Params{ShortRate: c.LikShortRate, LongRate: c.LikLongRate, MinMean: c.LikMinMean, MinVar: c.LikMinVar}
}
