package models

import (
	"math"
	"slices"
	"testing"

	"github.com/anomalyd/detector/anomaly"
)

// TestBoundsKeepBandIsTheVerdict: with a floor and a ceiling inside the
// range of every generated series, a point is anomalous exactly when it
// lies outside its band (or stuck fired), the static detector fires exactly
// when the value crosses a bound, the band lies within the bounds and is
// never empty, and Peek agrees with Update.
func TestBoundsKeepBandIsTheVerdict(t *testing.T) {
	c := DefaultConfig()
	fired := 0
	for name, s := range bandSeries(t, 1, 10) {
		sorted := slices.Clone(s.Values)
		slices.Sort(sorted)
		b := Bounds{Min: sorted[len(sorted)/50], Max: sorted[len(sorted)-len(sorted)/50-1], Detector: DetectorStaticBound}
		if !(b.Max > b.Min) {
			b.Max = b.Min + 1
		}
		var m Model
		fails := 0
		fail := func(i int, format string, args ...any) {
			fails++
			if fails <= 3 {
				t.Errorf("%s point %d: "+format, append([]any{name, i}, args...)...)
			}
		}
		for i, ts := range s.Ts {
			v := s.Values[i]
			p := m.PeekBounded(&c, ts, v, &b)
			r := m.UpdateBounded(&c, ts, v, &b)
			if p.Lower != r.Lower || p.Upper != r.Upper || p.State != r.State || p.Score != r.Score || p.Detector != r.Detector {
				fail(i, "Peek %+v, Update %+v", p, r)
			}
			if !(r.Upper > r.Lower) || r.Lower < b.Min || r.Upper > b.Max {
				fail(i, "band [%v, %v] empty or beyond the bounds [%v, %v]", r.Lower, r.Upper, b.Min, b.Max)
			}
			crossed := v < b.Min || v > b.Max
			if crossed != (r.State == anomaly.StateAnomalous && r.Detector == DetectorStaticBound) {
				fail(i, "value %v, bounds [%v, %v], verdict %v %v", v, b.Min, b.Max, r.State, r.Detector)
			}
			if crossed {
				fired++
				if r.Score < c.Threshold {
					fail(i, "static bound with score %v", r.Score)
				}
			}
			outside := v < r.Lower || v > r.Upper
			switch r.State {
			case anomaly.StateAnomalous:
				if r.Detector != DetectorStuck && !outside {
					fail(i, "anomalous %v inside its band [%v, %v]", v, r.Lower, r.Upper)
				}
			case anomaly.StateNormal:
				if outside {
					fail(i, "%v %v outside its band [%v, %v]", r.State, v, r.Lower, r.Upper)
				}
			}
		}
	}
	if fired == 0 {
		t.Fatal("no bound crossed: the test checks nothing")
	}
}

// TestBoundsSliver: a series living above its ceiling has a band at the
// top of [Min, Max]; a value in it is normal, a value above is anomalous.
func TestBoundsSliver(t *testing.T) {
	c := DefaultConfig()
	var m Model
	ts := int64(1_700_000_000_000)
	for i := range 600 {
		m.Update(&c, ts, 1000+float64(i%7))
		ts += 60_000
	}
	b := Bounds{Min: math.Inf(-1), Max: 100, Detector: DetectorStaticBound}
	r := m.PeekBounded(&c, ts, 1003, &b)
	if r.State != anomaly.StateAnomalous || r.Detector != DetectorStaticBound || r.Upper != 100 || !(r.Lower < 100) {
		t.Fatalf("1003 over a ceiling of 100: %+v", r)
	}
	r = m.PeekBounded(&c, ts, 99.99, &b)
	if r.State != anomaly.StateNormal || 99.99 < r.Lower || 99.99 > r.Upper {
		t.Fatalf("99.99 under the ceiling, in the sliver: %+v", r)
	}
	// and during learning, a bound alerts from the first point on
	var fresh Model
	r = fresh.UpdateBounded(&c, ts, 500, &b)
	if r.State != anomaly.StateAnomalous || r.Transition != TransitionOpened || r.Detector != DetectorStaticBound {
		t.Fatalf("first point above the ceiling: %+v", r)
	}
	if !(r.Upper > r.Lower) || r.Upper > 100 {
		t.Fatalf("first point band [%v, %v]", r.Lower, r.Upper)
	}
}
