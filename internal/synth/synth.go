// Package synth makes deterministic synthetic metric series for tests and
// benchmarks: a daily (and optionally weekly) cycle with noise, into which
// spikes, dips and level shifts are injected at known timestamps.
package synth

import (
	"math"
	"math/rand/v2"
)

// Series is a generated series; Ts are Unix milliseconds.
type Series struct {
	Ts     []int64
	Values []float64
}

// Config describes a series to generate.
type Config struct {
	Start     int64   // first timestamp, Unix ms (default 2026-01-05T00:00:00Z, a Monday)
	StepMs    int64   // step between points (default 5 minutes)
	Points    int     // number of points
	Level     float64 // mean level (default 100)
	DailyAmp  float64 // amplitude of the daily sine
	WeeklyAmp float64 // amplitude of the weekend dip (applied Saturday and Sunday)
	Noise     float64 // standard deviation of Gaussian noise
	Seed      uint64
}

// DefaultStart is Monday 2026-01-05 00:00:00 UTC in Unix ms.
const DefaultStart int64 = 1767571200000

// Generate returns the clean series described by c.
func Generate(c Config) Series {
	if c.Start == 0 {
		c.Start = DefaultStart
	}
	if c.StepMs == 0 {
		c.StepMs = 5 * 60 * 1000
	}
	if c.Level == 0 {
		c.Level = 100
	}
	r := rand.New(rand.NewPCG(c.Seed, 0x5eed))
	s := Series{Ts: make([]int64, c.Points), Values: make([]float64, c.Points)}
	const day = 86400000
	for i := range c.Points {
		ts := c.Start + int64(i)*c.StepMs
		phase := float64(ts%day) / day
		v := c.Level + c.DailyAmp*math.Sin(2*math.Pi*phase)
		if c.WeeklyAmp != 0 {
			// Unix day 0 was a Thursday: (days+3)%7 gives 0 for Monday.
			if wd := (ts/day + 3) % 7; wd >= 5 {
				v -= c.WeeklyAmp
			}
		}
		s.Ts[i] = ts
		s.Values[i] = v + c.Noise*r.NormFloat64()
	}
	return s
}

// Index returns the index of the first point at or after tsMs.
func (s Series) Index(tsMs int64) int {
	for i, t := range s.Ts {
		if t >= tsMs {
			return i
		}
	}
	return len(s.Ts)
}

// Spike adds delta to the single point at index i.
func (s Series) Spike(i int, delta float64) { s.Values[i] += delta }

// Shift adds delta to every point from index i on.
func (s Series) Shift(i int, delta float64) {
	for j := i; j < len(s.Values); j++ {
		s.Values[j] += delta
	}
}

// Scenario is the canonical test scenario: 14 days of a 5-minute daily
// cycle (level 100, amplitude 20, noise 2) with a spike (+40) on day 8, a
// dip (-40) on day 10 and a level shift (+30) from day 12 on, each at 14:00.
type Scenario struct {
	Series
	Spike, Dip, ShiftAt int // indices of the injected anomalies
}

// NewScenario builds the canonical scenario with the given seed.
func NewScenario(seed uint64) Scenario {
	s := Generate(Config{Points: 14 * 288, DailyAmp: 20, Noise: 2, Seed: seed})
	const day, hour = 86400000, 3600000
	sc := Scenario{Series: s}
	sc.Spike = s.Index(DefaultStart + 8*day + 14*hour)
	sc.Dip = s.Index(DefaultStart + 10*day + 14*hour)
	sc.ShiftAt = s.Index(DefaultStart + 12*day + 14*hour)
	s.Spike(sc.Spike, 40)
	s.Spike(sc.Dip, -40)
	s.Shift(sc.ShiftAt, 30)
	return sc
}
