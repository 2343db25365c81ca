package models

import (
	"math"
	"testing"

	"github.com/anomalyd/detector/internal/synth"
)

// TestDerivedStaleConfig: a Config changed after Validate (its stored
// constants stale) gives exactly the verdicts of the same Config
// validated again, and still makes no allocations per point.
func TestDerivedStaleConfig(t *testing.T) {
	sc := synth.NewScenario(3)
	for _, change := range []func(c *Config){
		func(c *Config) { c.Escalate = 0.7 },
		func(c *Config) { c.ChangeRate = 0.3 },
		func(c *Config) { c.LikScale = 5 },
		func(c *Config) { c.Threshold = 0.6 },
		func(c *Config) { c.Novelty.Scale = 0.2 },
		func(c *Config) { c.ScaleRate, c.SlowRate = 0.05, 0.004 },
		func(c *Config) { c.CalibP, c.CalibRate = 0.99, 0.05 },
	} {
		stale := DefaultConfig()
		change(&stale)
		fresh := stale
		if err := fresh.Validate(); err != nil {
			t.Fatal(err)
		}
		if stale.prep == fresh.prep {
			t.Fatal("the change did not reach a derived constant")
		}
		var a, b Model
		for i := range sc.Ts {
			ra, rb := a.Update(&stale, sc.Ts[i], sc.Values[i]), b.Update(&fresh, sc.Ts[i], sc.Values[i])
			if ra != rb {
				t.Fatalf("point %d: stale config %+v, validated %+v", i, ra, rb)
			}
			if pa, pb := a.Peek(&stale, sc.Ts[i]+1, sc.Values[i]+1), b.Peek(&fresh, sc.Ts[i]+1, sc.Values[i]+1); pa != pb {
				t.Fatalf("peek %d: stale config %+v, validated %+v", i, pa, pb)
			}
		}
		if a != b {
			t.Fatal("models differ after the scenario")
		}
		if ba, bb := a.Baseline(&stale, sc.Ts[len(sc.Ts)-1]+300_000), b.Baseline(&fresh, sc.Ts[len(sc.Ts)-1]+300_000); ba.Lower != bb.Lower || ba.Upper != bb.Upper {
			t.Errorf("baseline band: stale [%v, %v], validated [%v, %v]", ba.Lower, ba.Upper, bb.Lower, bb.Upper)
		}
		i := 0
		allocs := testing.AllocsPerRun(200, func() {
			a.Update(&stale, sc.Ts[len(sc.Ts)-1]+int64(i+1)*300_000, sc.Values[i])
			i++
		})
		if allocs != 0 {
			t.Errorf("Update with a stale config allocates %v times per point", allocs)
		}
	}
}

// TestDerivedValues: the stored constants are the per-point formulas'.
func TestDerivedValues(t *testing.T) {
	c := DefaultConfig()
	d := c.derive()
	if c.prep != d || !d.ok {
		t.Fatalf("DefaultConfig stores %+v, derive gives %+v", c.prep, d)
	}
	var buf derived
	if p := c.consts(&buf); p != &c.prep {
		t.Error("consts of an unchanged DefaultConfig does not use the stored constants")
	}
	c.Escalate = 0.9
	if p := c.consts(&buf); p != &buf || buf.escZ == d.escZ {
		t.Error("consts of a changed Config uses stale constants")
	}
	var zero Config
	zero.Escalate = 1
	if _, ok := zero.tailZ(zero.Escalate); ok {
		t.Error("an Escalate of 1 is reachable")
	}
}

// TestPosAt: posAt agrees with dayPos and weekday, across days, weeks and
// before 1970, and at every bucket's edge and midpoint a millisecond
// either side (where its integer floor meets dayPos's float one).
func TestPosAt(t *testing.T) {
	check := func(x int64) {
		t.Helper()
		b0, b1, w := dayPos(x)
		p := posAt(x)
		if p.b0 != b0 || p.b1 != b1 || p.w != w || p.wd != weekday(x) {
			t.Errorf("posAt(%d) = %+v, want %d %d %v %d", x, p, b0, b1, w, weekday(x))
		}
	}
	for _, ts := range []int64{0, 1, -1, dayMs - 1, dayMs, -dayMs, -dayMs - 1, binMs / 2, binMs/2 - 1, 23*binMs + binMs/2, 1700000000123, -1700000000123} {
		for _, d := range []int64{0, 1, 3 * 1800_000, 5*dayMs + 7, -9 * dayMs} {
			check(ts + d)
		}
	}
	for _, day := range []int64{-800, -1, 0, 1, 20000, 20001, 20002, 20003, 20004, 20005, 20006} {
		for b := int64(0); b <= dayBins; b++ {
			for _, at := range []int64{0, binMs / 2} {
				for dt := int64(-1); dt <= 1; dt++ {
					check(day*dayMs + b*binMs + at + dt)
				}
			}
		}
	}
}

// dayPos is the reference posAt is held to: the interpolation buckets and
// the weight of the second for time tsMs.
func dayPos(tsMs int64) (b0, b1 int, w float64) {
	ms := tsMs % dayMs
	if ms < 0 {
		ms += dayMs
	}
	pos := float64(ms)/binMs - 0.5
	f := math.Floor(pos)
	w = pos - f
	b0 = (int(f) + dayBins) % dayBins
	b1 = (b0 + 1) % dayBins
	return
}

// weekday is the reference for posAt's weekday: 0 for Monday .. 6 for
// Sunday (UTC).
func weekday(tsMs int64) int {
	d := tsMs / dayMs
	if tsMs < 0 && tsMs%dayMs != 0 {
		d--
	}
	return int(((d+3)%7 + 7) % 7)
}
