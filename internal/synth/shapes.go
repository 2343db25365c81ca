package synth

import (
	"math"
	"math/rand/v2"
)

// Shape names a kind of healthy operational series.
type Shape string

// The healthy shapes of the suite. Every one is a series nobody would want
// an alert on: its cycles, trend, noise and gaps are its normal life.
const (
	ShapeDaily      Shape = "daily"         // daily sine, small Gaussian noise
	ShapeWeekly     Shape = "daily_weekend" // daily sine with lower weekends
	ShapeTrend      Shape = "trend"         // slow linear growth plus noise
	ShapeTrendDaily Shape = "trend_daily"   // growth with a daily cycle
	ShapeFlat       Shape = "flat"          // Gaussian noise on a flat level
	ShapePoisson    Shape = "poisson"       // low counts (mean 3), Poisson
	ShapeSparse     Shape = "sparse_counts" // rare events: mostly zeros (mean 0.2)
	ShapeGappy      Shape = "gappy"         // daily cycle with missing stretches
	ShapeHourlyJob  Shape = "hourly_job"    // a batch job: a plateau 10 minutes every hour
	ShapePercent    Shape = "percent"       // busy CPU in [0,100], saturating at 100
	ShapeQuantised  Shape = "quantised"     // integer-valued level with noise
	ShapeHetero     Shape = "hetero"        // daily cycle, noise proportional to level
	ShapeHeavyTail  Shape = "heavy_tail"    // Student-t (3 d.o.f.) noise on a flat level
	ShapeIrregular  Shape = "irregular"     // daily cycle, jittered irregular steps
)

// Shapes lists every healthy shape, in a fixed order.
var Shapes = []Shape{ShapeDaily, ShapeWeekly, ShapeTrend, ShapeTrendDaily, ShapeFlat, ShapePoisson,
	ShapeSparse, ShapeGappy, ShapeHourlyJob, ShapePercent, ShapeQuantised, ShapeHetero, ShapeHeavyTail, ShapeIrregular}

// Healthy describes one generated healthy series.
type Healthy struct {
	Shape  Shape
	Days   int    // length in days (default 35)
	StepMs int64  // nominal step (default 5 minutes)
	Seed   uint64 // drives every random choice
}

// Noise returns the typical size of one noise unit of a shape around
// level, the unit in which incidents are injected.
func noiseOf(sh Shape, level float64) float64 {
	switch sh {
	case ShapePoisson, ShapeSparse:
		return math.Sqrt(math.Max(level, 1))
	case ShapeHetero:
		return 0.05 * level
	}
	return 2
}

// Gen returns the series, and for each point its noise unit (the standard
// deviation of its noise) and its clean value, for injecting incidents.
func (h Healthy) Gen() (s Series, unit, clean []float64) {
	if h.Days == 0 {
		h.Days = 35
	}
	if h.StepMs == 0 {
		h.StepMs = 5 * 60 * 1000
	}
	r := rand.New(rand.NewPCG(h.Seed, uint64(len(h.Shape))*7919+11))
	const day, hour = 86_400_000, 3_600_000
	n := int(int64(h.Days) * day / h.StepMs)
	phase0 := r.Float64() * 2 * math.Pi // where in its cycle the peak falls
	amp := 10 + 20*r.Float64()
	level := 50 + 150*r.Float64()
	gapsAt := map[int]bool{}
	if h.Shape == ShapeGappy {
		// a few outages of 10 minutes to 6 hours
		for range 2 + r.IntN(4) {
			start := r.IntN(n)
			for j := range int(int64(10*60*1000+r.Int64N(6*hour)) / h.StepMs) {
				gapsAt[start+j] = true
			}
		}
	}
	ts := DefaultStart
	for i := range n {
		t := DefaultStart + int64(i)*h.StepMs
		if h.Shape == ShapeIrregular {
			t = ts
			ts += h.StepMs/2 + r.Int64N(h.StepMs)
		}
		ph := 2*math.Pi*float64(t%day)/day + phase0
		var c, u float64
		u = noiseOf(h.Shape, level)
		noise := u * r.NormFloat64()
		switch h.Shape {
		case ShapeDaily, ShapeGappy, ShapeIrregular:
			c = level + amp*math.Sin(ph)
		case ShapeWeekly:
			c = level + amp*math.Sin(ph)
			if wd := (t/day + 3) % 7; wd >= 5 {
				c -= 0.4 * level
			}
		case ShapeTrend:
			c = level * (1 + 0.5*float64(i)/float64(n)) // +50% over the series
		case ShapeTrendDaily:
			c = level*(1+0.5*float64(i)/float64(n)) + amp*math.Sin(ph)
		case ShapeFlat:
			c = level
		case ShapePoisson, ShapeSparse:
			mean := 3.0
			if h.Shape == ShapeSparse {
				mean = 0.2
			}
			c, u = mean, math.Sqrt(mean)
			noise = float64(poisson(r, mean)) - mean
			if h.Shape == ShapeSparse {
				u = 1
			}
		case ShapeHourlyJob:
			c = 5
			if t%hour < 10*60*1000 {
				c = 80
			}
		case ShapePercent:
			c = 85 + 10*math.Sin(ph)
			u = 3
			noise = u * r.NormFloat64()
		case ShapeQuantised:
			c = math.Round(level / 10)
			u = 1
			noise = float64(r.IntN(3) - 1)
		case ShapeHetero:
			c = level + 0.5*level*math.Sin(ph)
			u = 0.05 * c
			noise = u * r.NormFloat64()
		case ShapeHeavyTail:
			c = level
			// Student t with 3 degrees of freedom, scaled to unit 2
			chi := 0.0
			for range 3 {
				g := r.NormFloat64()
				chi += g * g
			}
			noise = 2 * r.NormFloat64() / math.Sqrt(chi/3)
		}
		if gapsAt[i] {
			continue
		}
		v := c + noise
		if h.Shape == ShapePercent {
			v = math.Min(100, math.Max(0, v))
		}
		s.Ts = append(s.Ts, t)
		s.Values = append(s.Values, v)
		unit = append(unit, u)
		clean = append(clean, c)
	}
	return s, unit, clean
}

// poisson draws from a Poisson distribution of the given small mean
// (Knuth's multiplication method).
func poisson(r *rand.Rand, mean float64) int {
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// IncidentKind names an injected incident.
type IncidentKind string

const (
	IncidentSpike IncidentKind = "spike" // one point up by Size noise units
	IncidentDip   IncidentKind = "dip"   // one point down by Size noise units
	IncidentShift IncidentKind = "shift" // every point from Start on up by Size units for a day
	IncidentStuck IncidentKind = "stuck" // the value repeats for a day (a dead collector)
	IncidentDrop  IncidentKind = "drop"  // no points for six hours (a dead exporter)
)

// Incidents lists the injected kinds in a fixed order.
var Incidents = []IncidentKind{IncidentSpike, IncidentDip, IncidentShift, IncidentStuck, IncidentDrop}

// Incident is one injected incident: it starts at StartMs and lasts until
// EndMs (for a spike or dip, one point).
type Incident struct {
	Kind           IncidentKind
	StartMs, EndMs int64
	Size           float64 // in noise units
}

// Inject returns a copy of s with an incident of kind k at the first point
// at or after atMs, of size units noise units (unit per point, as from
// Gen). The series' remaining points are unchanged.
func Inject(s Series, unit []float64, k IncidentKind, atMs int64, units float64) (Series, Incident) {
	const day, hour = 86_400_000, 3_600_000
	out := Series{Ts: append([]int64(nil), s.Ts...), Values: append([]float64(nil), s.Values...)}
	i := out.Index(atMs)
	if i >= len(out.Ts) {
		return out, Incident{Kind: k, StartMs: atMs, EndMs: atMs, Size: units}
	}
	inc := Incident{Kind: k, StartMs: out.Ts[i], EndMs: out.Ts[i], Size: units}
	switch k {
	case IncidentSpike:
		out.Values[i] += units * unit[i]
	case IncidentDip:
		out.Values[i] -= units * unit[i]
	case IncidentShift:
		inc.EndMs = inc.StartMs + day
		for j := i; j < len(out.Ts) && out.Ts[j] < inc.EndMs; j++ {
			out.Values[j] += units * unit[j]
		}
	case IncidentStuck:
		inc.EndMs = inc.StartMs + day
		for j := i; j < len(out.Ts) && out.Ts[j] < inc.EndMs; j++ {
			out.Values[j] = out.Values[i-1+boolInt(i == 0)]
		}
	case IncidentDrop:
		inc.EndMs = inc.StartMs + 6*hour
		j := i
		for j < len(out.Ts) && out.Ts[j] < inc.EndMs {
			j++
		}
		out.Ts = append(out.Ts[:i:i], out.Ts[j:]...)
		out.Values = append(out.Values[:i:i], out.Values[j:]...)
	}
	return out, inc
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
