package models

import (
	"math"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// bandSeries returns generated series of every healthy shape, clean and
// with injected incidents, for the band property tests.
func bandSeries(t *testing.T, seeds int, days int) map[string]synth.Series {
	t.Helper()
	out := map[string]synth.Series{}
	const day = 86_400_000
	for si, sh := range synth.Shapes {
		for seed := range uint64(seeds) {
			s, unit, _ := synth.Healthy{Shape: sh, Days: days, Seed: seed}.Gen()
			name := string(sh) + "/" + string(rune('a'+seed))
			out[name] = s
			k := synth.Incidents[(si+int(seed))%len(synth.Incidents)]
			at := synth.DefaultStart + int64(days/2)*day + int64(seed)*3_600_000
			inj, _ := synth.Inject(s, unit, k, at, 10)
			inj, _ = synth.Inject(inj, unit, synth.IncidentSpike, at+2*day, 20)
			out[name+"+"+string(k)] = inj
		}
	}
	return out
}

// TestBandIsTheVerdict checks, for every point of many generated series,
// that the point is anomalous exactly when it lies outside [Lower, Upper],
// that the band is never zero wide, that it stays in the domain the series
// has shown, that Peek gives the same verdict as Update, and that the
// series view agrees with the latest verdict.
func TestBandIsTheVerdict(t *testing.T) {
	c := DefaultConfig()
	anomalous, stuck := 0, 0
	for name, s := range bandSeries(t, 3, 14) {
		var m Model
		lo, hi := math.Inf(1), math.Inf(-1)
		fails := 0
		fail := func(i int, format string, args ...any) {
			fails++
			if fails <= 3 {
				t.Errorf("%s point %d: "+format, append([]any{name, i}, args...)...)
			}
		}
		for i, ts := range s.Ts {
			v := s.Values[i]
			p := m.Peek(&c, ts, v)
			r := m.Update(&c, ts, v)
			if p.Lower != r.Lower || p.Upper != r.Upper || p.State != r.State || p.Score != r.Score {
				fail(i, "Peek %+v, Update %+v", p, r)
			}
			if !(r.Upper > r.Lower) {
				fail(i, "band [%v, %v] has no width", r.Lower, r.Upper)
			}
			for _, f := range []float64{r.Lower, r.Upper, r.Expected, r.Score, r.Z} {
				if math.IsNaN(f) || math.IsInf(f, 0) {
					fail(i, "non-finite field in %+v", r)
				}
			}
			outside := v < r.Lower || v > r.Upper
			switch r.State {
			case anomaly.StateLearning:
			case anomaly.StateAnomalous:
				anomalous++
				if r.Detector == DetectorStuck {
					// a named non-band detector: the value is ordinary
					stuck++
					break
				}
				if !outside {
					fail(i, "anomalous %v inside its band [%v, %v]", v, r.Lower, r.Upper)
				}
				if r.Score < c.Threshold || r.Detector == DetectorNone {
					fail(i, "anomalous with score %v detector %v", r.Score, r.Detector)
				}
			case anomaly.StateNormal:
				if outside {
					fail(i, "normal %v outside its band [%v, %v]", v, r.Lower, r.Upper)
				}
				if r.Score >= c.Threshold {
					fail(i, "normal with score %v", r.Score)
				}
			}
			// Domain: never negative so far means no negative bound; a
			// ceiling of 100 touched and never passed is kept.
			if r.State != anomaly.StateLearning {
				if lo >= 0 && r.Lower < 0 {
					fail(i, "lower %v for a series never below 0", r.Lower)
				}
				if lo >= 0 && hi == 100 && r.Upper > 100 {
					fail(i, "upper %v for a series that saturates at 100", r.Upper)
				}
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
			if i%97 == 0 || i == len(s.Ts)-1 {
				b := m.Baseline(&c, ts)
				if !near32(b.Lower, r.Lower) || !near32(b.Upper, r.Upper) || !near32(b.Expected, r.Expected) {
					fail(i, "view [%v, %v] expected %v, verdict [%v, %v] expected %v",
						b.Lower, b.Upper, b.Expected, r.Lower, r.Upper, r.Expected)
				}
			}
		}
	}
	t.Logf("%d anomalous points checked, %d of them stuck", anomalous, stuck)
	if anomalous == 0 || stuck == 0 {
		t.Fatal("no anomalous point at all: the test checks nothing")
	}
}

// near32 compares a float32-stored value with its float64 original.
func near32(a, b float64) bool { return a == float64(float32(b)) || math.Abs(a-b) <= 1e-6*math.Abs(b) }

// TestBandDomain: a count that was never negative gets no negative lower
// bound, and a percentage saturating at 100 no upper bound above it.
func TestBandDomain(t *testing.T) {
	c := DefaultConfig()
	for _, sh := range []synth.Shape{synth.ShapePoisson, synth.ShapeSparse, synth.ShapePercent} {
		s, _, _ := synth.Healthy{Shape: sh, Days: 10, Seed: 5}.Gen()
		var m Model
		for i, ts := range s.Ts {
			r := m.Update(&c, ts, s.Values[i])
			if r.State == anomaly.StateLearning {
				continue
			}
			if r.Lower < 0 {
				t.Fatalf("%s point %d: lower %v < 0", sh, i, r.Lower)
			}
			if sh == synth.ShapePercent && i > 500 && r.Upper > 100 {
				t.Fatalf("%s point %d: upper %v > 100", sh, i, r.Upper)
			}
		}
	}
}

// TestBandNoCeilingBeforeReached: a series rising through 99.6 has shown
// no ceiling at 100; its next value above 100 is judged by the detectors,
// not by a domain it never reached (TestBandDomain: a percentage that
// saturates at exactly 100 keeps its ceiling).
func TestBandNoCeilingBeforeReached(t *testing.T) {
	c := DefaultConfig()
	var m Model
	ts := int64(0)
	for i := range 3000 {
		ts += 300_000
		m.Update(&c, ts, 60+float64(i)*39.6/3000+0.3*math.Sin(float64(i)))
	}
	r := m.Peek(&c, ts+300_000, 99.9)
	if r.Upper <= 100 {
		t.Fatalf("band [%v, %v] capped at 100 for a series that never reached it", r.Lower, r.Upper)
	}
}
