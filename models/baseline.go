package models

import (
	"github.com/anomalyd/detector/anomaly"
)

// Baseline describes the learned state for people to read, as it stands for
// a point at tsMs (Unix ms): the level (deseasonalised), the scale (robust
// sigma of the residuals), the expected value and the band at tsMs (for
// the last learned timestamp, exactly the last verdict's), the
// cycle in use and its profile, and named components:
//
//	slow_level      the slow robust level (deseasonalised)
//	trend_per_hour  the slow level's slope per hour
//	range_scale     sigma of the residuals around the slow level
//	step_seconds    the typical time step
//	day_of_week_*   day-of-week offsets (weekly cycle only)
//
// With a weekly cycle, Seasonal has 7*24 hourly buckets from Monday 00:00
// (daily profile plus the weekday's offset); with a daily cycle, 24
// buckets from 00:00; both in the profile's time zone (Config.Location,
// UTC by default). It allocates; it is meant for queries, not the
// ingest path.
func (m *Model) Baseline(c *Config, tsMs int64) anomaly.Baseline {
	var b anomaly.Baseline
	if m.n == 0 {
		return b
	}
	s := m.fastS.Sigma(c.MeanFloor, floorFor(m.level()))
	seas := m.season(c.localMs(tsMs))
	b.Level = m.level()
	b.Scale = s
	b.Expected = m.level() + seas
	if tsMs == m.lastTs {
		// The view of the last point is its verdict.
		b.Expected, b.Lower, b.Upper = float64(m.last.Expected), float64(m.last.Lower), float64(m.last.Upper)
	} else if int(m.n) >= c.MinPoints {
		// The band a point at tsMs would be judged by.
		k := m.compute(c, tsMs, b.Expected)
		b.Lower, b.Upper = m.band(c, &k, tsMs)
	} else {
		b.Lower, b.Upper = learningBand(b.Expected, s)
	}
	step := float64(m.stepMs)
	b.Components = map[string]float64{
		"slow_level":   m.slow,
		"range_scale":  m.slowS.Sigma(c.MeanFloor, floorFor(m.slow)),
		"step_seconds": step / 1000,
	}
	if step > 0 {
		b.Components["trend_per_hour"] = m.trend / step * 3600000
	}
	switch {
	case m.flags&flagWeekly != 0:
		b.PeriodSeconds = weekMs / 1000
		b.Seasonal = make([]float64, 7*dayBins)
		for d := range 7 {
			for h := range dayBins {
				b.Seasonal[d*dayBins+h] = m.dayBucket(h) + m.dowOffset(d)
			}
		}
		for d, name := range [...]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
			b.Components["day_of_week_"+name] = m.dowOffset(d)
		}
	case m.flags&flagSeasonal != 0:
		b.PeriodSeconds = dayMs / 1000
		b.Seasonal = make([]float64, dayBins)
		for h := range dayBins {
			b.Seasonal[h] = m.dayBucket(h)
		}
	}
	for _, p := range []*float64{&b.Level, &b.Scale, &b.Expected, &b.Lower, &b.Upper} {
		*p = finite(*p, 0)
	}
	return b
}
