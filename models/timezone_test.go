package models

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// businessDay is a series that follows local time in loc: a daily sine
// of amplitude 50 around 100 by the local hour, noise 1.
func businessDay(loc *time.Location, start time.Time, days int, seed uint64) (ts []int64, vs []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for t := start; t.Before(start.AddDate(0, 0, days)); t = t.Add(5 * time.Minute) {
		lt := t.In(loc)
		h := float64(lt.Hour()) + float64(lt.Minute())/60
		v := 100 + 50*math.Sin(2*math.Pi*h/24)
		ts = append(ts, t.UnixMilli())
		vs = append(vs, v+r.NormFloat64())
	}
	return ts, vs
}

// TestTimeZoneDaylightSaving: a nightly job on Berlin time, learned for
// four weeks before the spring change (2026-03-29) and judged for the days
// after. With Location Berlin its profile is in local time and the change
// shifts nothing; with UTC the job runs an hour early against the profile
// and alerts.
func TestTimeZoneDaylightSaving(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no time zone database: %v", err)
	}
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	change := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC).UnixMilli()
	// Over the 12 hours after the change: anomalous points and the mean
	// absolute error of the slow (seasonal) expectation, which the level
	// and seasonal detectors judge by.
	judge := func(loc *time.Location) (anom int, slowErr float64) {
		c := DefaultConfig()
		c.Location = loc
		ts, vs := businessDay(berlin, start, 32, 4)
		var m Model
		n := 0
		for i := range ts {
			k := m.compute(&c, ts[i], vs[i])
			r := m.Update(&c, ts[i], vs[i])
			if ts[i] < change || ts[i] >= change+12*3600*1000 {
				continue
			}
			if r.State == anomaly.StateAnomalous {
				anom++
			}
			slowErr += math.Abs(vs[i] - k.expSlow)
			n++
		}
		return anom, slowErr / float64(n)
	}
	la, lerr := judge(berlin)
	ua, uerr := judge(nil)
	t.Logf("after the change: Berlin %d anomalous points, slow error %.2f; UTC %d, %.2f", la, lerr, ua, uerr)
	if !(lerr < uerr/2) {
		t.Errorf("local profile: slow error %.2f, UTC %.2f: want the local one far smaller", lerr, uerr)
	}
	if la != 0 || ua == 0 {
		t.Errorf("anomalous points after the change: local profile %d, want 0; UTC %d, want some (the shift alerts)", la, ua)
	}
	// The view: the profile peaks at 06:00 local (sine of the local hour).
	c := DefaultConfig()
	c.Location = berlin
	ts, vs := businessDay(berlin, start, 32, 4)
	var m Model
	for i := range ts {
		m.Update(&c, ts[i], vs[i])
	}
	b := m.Baseline(&c, ts[len(ts)-1])
	if b.PeriodSeconds == 0 || len(b.Seasonal) < 24 {
		t.Fatalf("no cycle found: %+v", b)
	}
	peak := 0
	for h := range 24 {
		if b.Seasonal[h] > b.Seasonal[peak] {
			peak = h
		}
	}
	if peak < 5 || peak > 7 {
		t.Errorf("local profile peaks at bucket %d, want 6 (06:00 local)", peak)
	}
}

// TestLocalMs: the offset follows daylight saving, and nil means UTC.
func TestLocalMs(t *testing.T) {
	c := DefaultConfig()
	ts := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	if got := c.localMs(ts); got != ts {
		t.Errorf("nil location: %d, want %d", got, ts)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	c.Location = ny
	if got := c.localMs(ts) - ts; got != -4*3600*1000 {
		t.Errorf("New York in July: offset %d ms, want -4 h", got)
	}
	winter := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	if got := c.localMs(winter) - winter; got != -5*3600*1000 {
		t.Errorf("New York in January: offset %d ms, want -5 h", got)
	}
	var m Model
	for i := range 200 {
		r := m.Update(&c, ts+int64(i)*60000, 10+math.Sin(float64(i)))
		if r.State == anomaly.StateAnomalous {
			t.Fatalf("point %d anomalous on a smooth series", i)
		}
	}
}
