package models

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

// modelBytes is the documented size of a Model on 64-bit platforms.
const modelBytes = 400

func TestModelSize(t *testing.T) {
	if got := unsafe.Sizeof(Model{}); got != modelBytes {
		t.Errorf("unsafe.Sizeof(Model{}) = %d, want %d (update the doc comment of Model)", got, modelBytes)
	}
	if modelBytes > 640 {
		t.Errorf("model is %d bytes, budget is 640", modelBytes)
	}
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mut  func(*Config)
	}{
		{"min points", func(c *Config) { c.MinPoints = 0 }},
		{"threshold zero", func(c *Config) { c.Threshold = 0 }},
		{"threshold above one", func(c *Config) { c.Threshold = 1.5 }},
		{"threshold NaN", func(c *Config) { c.Threshold = math.NaN() }},
		{"open after", func(c *Config) { c.OpenAfter = 0 }},
		{"resolve after", func(c *Config) { c.ResolveAfter = 0 }},
		{"level rate", func(c *Config) { c.LevelRate = 0 }},
		{"scale rate", func(c *Config) { c.ScaleRate = 2 }},
		{"season gain", func(c *Config) { c.SeasonGain = 0 }},
		{"huber", func(c *Config) { c.HuberK = -1 }},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil, want an error", tc.name)
		}
	}
}

// run feeds a series through a fresh model and returns the verdicts.
func run(c *Config, ts []int64, vs []float64) ([]Result, *Model) {
	var m Model
	out := make([]Result, len(ts))
	for i := range ts {
		out[i] = m.Update(c, ts[i], vs[i])
	}
	return out, &m
}

func TestScenarioAnomalies(t *testing.T) {
	c := DefaultConfig()
	for seed := uint64(1); seed <= 5; seed++ {
		sc := synth.NewScenario(seed)
		rs, _ := run(&c, sc.Ts, sc.Values)
		for _, a := range []struct {
			name string
			at   int
			// within: the anomaly must be flagged at one of the points
			// at..at+within (the spike and dip at the point itself).
			within int
		}{{"spike", sc.Spike, 0}, {"dip", sc.Dip, 0}, {"level shift", sc.ShiftAt, 2}} {
			found := false
			for i := a.at; i <= a.at+a.within; i++ {
				if rs[i].State == anomaly.StateAnomalous {
					found = true
				}
			}
			if !found {
				r := rs[a.at]
				t.Errorf("seed %d: %s at %d: state %v score %.3f z %.2f expected %.2f value %.2f, want anomalous",
					seed, a.name, a.at, r.State, r.Score, r.Z, r.Expected, sc.Values[a.at])
			}
		}
	}
}

// TestCleanSeasonalNoAnomaly: 14 days of a clean daily cycle give no
// anomaly once learned. A series' ranges fill during its first week (noise
// can still set a record then, and with a weekend dip the first weekend is
// news: no weekly cycle has been seen yet), so each series is checked from
// its second week on, once a whole week has been learned.
func TestCleanSeasonalNoAnomaly(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		gc   synth.Config
		from int
	}{
		{synth.Config{Points: 14 * 288, DailyAmp: 20, Noise: 2}, 7 * 288},
		{synth.Config{Points: 14 * 288, DailyAmp: 20, WeeklyAmp: 15, Noise: 2}, 7 * 288},
	} {
		gc := tc.gc
		for seed := uint64(1); seed <= 3; seed++ {
			gc.Seed = seed
			s := synth.Generate(gc)
			rs, _ := run(&c, s.Ts, s.Values)
			n := 0
			for i, r := range rs {
				if i >= tc.from && r.State == anomaly.StateAnomalous {
					if n < 5 {
						t.Errorf("weekly %v seed %d: point %d (value %.2f) anomalous: score %.3f z %.2f expected %.2f detector %v",
							gc.WeeklyAmp, seed, i, s.Values[i], r.Score, r.Z, r.Expected, r.Detector)
					}
					n++
				}
			}
			if n > 0 {
				t.Errorf("weekly %v seed %d: %d anomalous points, want 0", gc.WeeklyAmp, seed, n)
			}
		}
	}
}

func TestLearningNeedPoints(t *testing.T) {
	c := DefaultConfig()
	c.MinPoints = 10
	var m Model
	for i := range 12 {
		r := m.Update(&c, int64(i)*60000, 5)
		want := max(c.MinPoints-i, 0)
		if i < c.MinPoints {
			if r.State != anomaly.StateLearning || r.NeedPoints != want-1 && r.NeedPoints != want {
				t.Errorf("point %d: state %v need %d, want learning need %d", i, r.State, r.NeedPoints, want)
			}
		} else if r.State == anomaly.StateLearning || r.NeedPoints != 0 {
			t.Errorf("point %d: state %v need %d, want judged with need 0", i, r.State, r.NeedPoints)
		}
		if !r.Learned {
			t.Errorf("point %d: Learned = false, want true", i)
		}
	}
}

func TestNeedPointsCountsDown(t *testing.T) {
	c := DefaultConfig()
	var m Model
	prev := math.MaxInt
	for i := 0; i < c.MinPoints; i++ {
		r := m.Update(&c, int64(i)*60000, 5)
		if r.State != anomaly.StateLearning {
			t.Fatalf("point %d: state %v, want learning", i, r.State)
		}
		if r.NeedPoints >= prev || r.NeedPoints < 0 {
			t.Fatalf("point %d: NeedPoints %d after %d, want a decreasing count", i, r.NeedPoints, prev)
		}
		prev = r.NeedPoints
	}
}

func TestNonFiniteNotLearned(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 200, Noise: 1, Seed: 1})
	_, m := run(&c, s.Ts, s.Values)
	before := m.AppendBinary(nil)
	ts := s.Ts[len(s.Ts)-1]
	for i, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := m.Update(&c, ts+int64(i+1)*300000, v)
		if r.Learned {
			t.Errorf("Update(%v).Learned = true, want false", v)
		}
		for _, f := range []float64{r.Expected, r.Lower, r.Upper, r.Score, r.Z} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				t.Errorf("Update(%v) gave non-finite field in %+v", v, r)
			}
		}
	}
	if after := m.AppendBinary(nil); !bytes.Equal(before, after) {
		t.Error("non-finite values changed the model")
	}
	if m.Points() != 200 {
		t.Errorf("Points() = %d, want 200", m.Points())
	}
}

func TestOutOfOrderNotLearned(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 200, Noise: 1, Seed: 2})
	_, m := run(&c, s.Ts, s.Values)
	before := m.AppendBinary(nil)
	last := s.Ts[len(s.Ts)-1]
	for _, ts := range []int64{last, last - 1, s.Ts[0]} {
		r := m.Update(&c, ts, 1e6)
		if r.Learned {
			t.Errorf("Update(ts=%d) at or before the last learned %d: Learned = true, want false", ts, last)
		}
		if r.State != anomaly.StateAnomalous {
			t.Errorf("Update(ts=%d, 1e6): state %v, want anomalous (scored against the baseline)", ts, r.State)
		}
	}
	if after := m.AppendBinary(nil); !bytes.Equal(before, after) {
		t.Error("out-of-order points changed the model")
	}
	if tsl, _, _ := m.Last(); tsl != last {
		t.Errorf("Last() ts = %d, want %d", tsl, last)
	}
}

func TestPeekDoesNotLearn(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 300, DailyAmp: 10, Noise: 1, Seed: 3})
	_, m := run(&c, s.Ts[:299], s.Values[:299])
	before := m.AppendBinary(nil)
	p := m.Peek(&c, s.Ts[299], s.Values[299])
	if after := m.AppendBinary(nil); !bytes.Equal(before, after) {
		t.Fatal("Peek changed the model")
	}
	u := m.Update(&c, s.Ts[299], s.Values[299])
	if p.Score != u.Score || p.Expected != u.Expected || p.State != u.State || p.Z != u.Z {
		t.Errorf("Peek = %+v, Update = %+v, want the same verdict", p, u)
	}
}

func TestTransitions(t *testing.T) {
	c := DefaultConfig()
	c.OpenAfter, c.ResolveAfter = 2, 3
	c.SuppressDamp = 1 // every anomalous point counts, repeats included
	s := synth.Generate(synth.Config{Points: 400, Noise: 1, Seed: 4})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1]
	step := int64(300000)
	next := func(v float64) Result {
		ts += step
		return m.Update(&c, ts, v)
	}
	if r := next(1000); r.State != anomaly.StateAnomalous || r.Transition != TransitionNone {
		t.Fatalf("first anomalous point: state %v transition %v, want anomalous/none (OpenAfter 2)", r.State, r.Transition)
	}
	if r := next(2000); r.State != anomaly.StateAnomalous || r.Transition != TransitionOpened {
		t.Fatalf("second anomalous point: state %v transition %v, want anomalous/opened", r.State, r.Transition)
	}
	// Back to normal: the anomaly stays open (updated) until ResolveAfter
	// normal points in a row, then resolves exactly once.
	normal, resolved := 0, -1
	for i := range 100 {
		r := next(100 + float64(i%3) - 1) // a little noise: a flat line would be stuck
		if r.State == anomaly.StateNormal {
			normal++
		} else {
			normal = 0
		}
		switch {
		case resolved < 0 && normal == c.ResolveAfter:
			if r.Transition != TransitionResolved {
				t.Fatalf("point %d: %d normal points in a row, transition %v, want resolved", i, normal, r.Transition)
			}
			resolved = i
		case resolved < 0:
			if r.Transition != TransitionUpdated {
				t.Fatalf("point %d while open: transition %v, want updated", i, r.Transition)
			}
		default:
			if r.Transition != TransitionNone {
				t.Fatalf("point %d after resolving: transition %v, want none", i, r.Transition)
			}
		}
	}
	if resolved < 0 {
		t.Fatal("the anomaly never resolved")
	}
}

func TestResultsFinite(t *testing.T) {
	c := DefaultConfig()
	var m Model
	vals := []float64{0, 0, 0, 0, 1e300, -1e300, 0, 5e-324, 1e-300, 7, 7, 7}
	for i := range 200 {
		v := vals[i%len(vals)]
		r := m.Update(&c, int64(i)*1000, v)
		for _, f := range []float64{r.Expected, r.Lower, r.Upper, r.Score, r.Z} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				t.Fatalf("point %d (%v): non-finite field in %+v", i, v, r)
			}
		}
		if r.Score < 0 || r.Score > 1 {
			t.Fatalf("point %d: score %v outside [0,1]", i, r.Score)
		}
		if r.Lower > r.Upper {
			t.Fatalf("point %d: lower %v > upper %v", i, r.Lower, r.Upper)
		}
	}
}

func TestLongGap(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 600, Noise: 1, Seed: 5})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1] + c.MaxGapMs + 86400000
	// After the gap the series is back at a level 10 sigma higher: the
	// first point may be flagged, but the baseline re-anchors there.
	for i := range 20 {
		r := m.Update(&c, ts+int64(i)*300000, 110+0.5*float64(i%3-1)) // noisy, not stuck
		if i >= 1 && r.State == anomaly.StateAnomalous {
			t.Errorf("point %d after the gap: anomalous (expected %.2f), want the baseline re-anchored", i, r.Expected)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c := DefaultConfig()
	sc := synth.NewScenario(7)
	half := len(sc.Ts) * 2 / 3
	_, m := run(&c, sc.Ts[:half], sc.Values[:half])
	b := m.AppendBinary(nil)
	var d Model
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatalf("UnmarshalBinary: %v", err)
	}
	if *m != d {
		t.Fatal("decoded model differs from the encoded one")
	}
	for i := half; i < len(sc.Ts); i++ {
		a, b := m.Update(&c, sc.Ts[i], sc.Values[i]), d.Update(&c, sc.Ts[i], sc.Values[i])
		if a != b {
			t.Fatalf("point %d: original %+v, decoded %+v", i, a, b)
		}
	}
	if got := len(b); got != encodedSize {
		t.Errorf("len(AppendBinary) = %d, want %d", got, encodedSize)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	c := DefaultConfig()
	sc := synth.NewScenario(8)
	_, m := run(&c, sc.Ts[:500], sc.Values[:500])
	good := m.AppendBinary(nil)
	nan := func() []byte {
		x := *m
		x.fast = math.NaN()
		return x.AppendBinary(nil)
	}()
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", good[:1]},
		{"truncated", good[:len(good)-1]},
		{"too long", append(append([]byte{}, good...), 0)},
		{"unknown version", append([]byte{99}, good[1:]...)},
		{"NaN level", nan},
	}
	for _, tc := range cases {
		var d Model
		err := d.UnmarshalBinary(tc.b)
		if err == nil || !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: UnmarshalBinary = %v, want ErrEncoding", tc.name, err)
		}
		if d != (Model{}) {
			t.Errorf("%s: model changed on error", tc.name)
		}
	}
	// Every truncation and every single-byte corruption must be handled
	// without a panic.
	for i := range good {
		var d Model
		_ = d.UnmarshalBinary(good[:i])
		x := append([]byte{}, good...)
		x[i] ^= 0xff
		_ = d.UnmarshalBinary(x)
	}
}

func TestBaseline(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 10 * 288, DailyAmp: 20, Noise: 1, Seed: 9})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1] + 300000
	b := m.Baseline(&c, ts)
	if b.PeriodSeconds != 86400 && b.PeriodSeconds != 7*86400 {
		t.Errorf("PeriodSeconds = %d, want a daily (or weekly) cycle", b.PeriodSeconds)
	}
	if len(b.Seasonal) == 0 {
		t.Error("Seasonal is empty, want a profile")
	}
	if !(b.Lower <= b.Expected && b.Expected <= b.Upper) {
		t.Errorf("bounds %v <= %v <= %v do not hold", b.Lower, b.Expected, b.Upper)
	}
	if r := m.Peek(&c, ts, b.Expected); math.Abs(r.Expected-b.Expected) > 1e-9 {
		t.Errorf("Baseline.Expected %v, Peek expected %v, want equal", b.Expected, r.Expected)
	}
	flat := synth.Generate(synth.Config{Points: 3 * 288, Noise: 1, Seed: 9})
	_, mf := run(&c, flat.Ts, flat.Values)
	if bf := mf.Baseline(&c, ts); bf.PeriodSeconds != 0 || len(bf.Seasonal) != 0 {
		t.Errorf("flat series: PeriodSeconds %d with %d buckets, want no cycle", bf.PeriodSeconds, len(bf.Seasonal))
	}
	var z Model
	if zb := z.Baseline(&c, ts); zb.Scale != 0 || zb.Seasonal != nil {
		t.Errorf("empty model baseline = %+v, want zero", zb)
	}
}

func TestDetectorString(t *testing.T) {
	for d, want := range map[Detector]string{DetectorNone: "none", DetectorLevel: "level", DetectorSeasonal: "seasonal",
		DetectorSpike: "spike", DetectorChange: "changepoint", Detector(200): "unknown"} {
		if got := d.String(); got != want {
			t.Errorf("Detector(%d).String() = %q, want %q", d, got, want)
		}
	}
}

func TestUpdateAllocs(t *testing.T) {
	c := DefaultConfig()
	sc := synth.NewScenario(1)
	var m Model
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		m.Update(&c, sc.Ts[i%len(sc.Ts)]+int64(i/len(sc.Ts))*14*86400000, sc.Values[i%len(sc.Ts)])
		i++
	})
	if allocs != 0 {
		t.Errorf("Update allocates %v times per point, want 0", allocs)
	}
}

func BenchmarkUpdate(b *testing.B) {
	c := DefaultConfig()
	sc := synth.NewScenario(1)
	n := len(sc.Ts)
	var m Model
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % n
		m.Update(&c, sc.Ts[j]+int64(i/n)*14*86400000, sc.Values[j])
	}
}

// TestBoundsAgreeWithState: a value just outside the bounds is anomalous,
// the expected value is not.
func TestBoundsAgreeWithState(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 2000, DailyAmp: 10, Noise: 1, Seed: 11})
	_, m := run(&c, s.Ts, s.Values)
	ts := s.Ts[len(s.Ts)-1] + 300000
	mid := m.Peek(&c, ts, 0)
	if !(mid.Upper > mid.Expected && mid.Lower < mid.Expected) {
		t.Fatalf("bounds collapsed on a quiet series: %+v", mid)
	}
	if r := m.Peek(&c, ts, mid.Expected); r.State != anomaly.StateNormal {
		t.Errorf("Peek(expected %v) = %v score %v, want normal", mid.Expected, r.State, r.Score)
	}
	w := mid.Upper - mid.Expected
	for _, v := range []float64{mid.Upper + 0.01*w, mid.Lower - 0.01*w} {
		if r := m.Peek(&c, ts, v); r.State != anomaly.StateAnomalous {
			t.Errorf("Peek(%v) just outside [%v, %v] = %v score %v, want anomalous", v, mid.Lower, mid.Upper, r.State, r.Score)
		}
	}
}

// TestLongSeriesStaysFinite runs 60 days of 5-minute points (every hourly
// bucket is visited far more than 255 times) and checks every verdict.
func TestLongSeriesStaysFinite(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 60 * 288, DailyAmp: 20, WeeklyAmp: 10, Noise: 2, Seed: 12})
	rs, m := run(&c, s.Ts, s.Values)
	for i, r := range rs {
		for _, f := range []float64{r.Expected, r.Lower, r.Upper, r.Score, r.Z} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				t.Fatalf("point %d: non-finite field in %+v", i, r)
			}
		}
	}
	if err := m.check(EncodingVersion); err != nil {
		t.Errorf("model state after 60 days: %v", err)
	}
	if b := m.Baseline(&c, s.Ts[len(s.Ts)-1]); b.PeriodSeconds != 7*86400 {
		t.Errorf("PeriodSeconds = %d after 60 days with a weekend dip, want a weekly cycle", b.PeriodSeconds)
	}
}

// TestDayProfileOffset: the daily profile keeps a zero mean through a
// common offset folded into the buckets (as far as it is whole steps of
// their block floating point) every dayFold points. On a daily
// cycle with a level that keeps rising (every residual around the slow
// level one-signed, the case in which the offset grows fastest), the
// profile stays centred, the offset never grows past a fold's worth, and
// folding leaves every bucket where it was.
func TestDayProfileOffset(t *testing.T) {
	c := DefaultConfig()
	s := synth.Generate(synth.Config{Points: 21 * 288, DailyAmp: 20, Noise: 1, Seed: 3})
	var m Model
	for i := range s.Ts {
		m.Update(&c, s.Ts[i], s.Values[i]+float64(i)*0.05)
		if i < 2*288 {
			continue
		}
		sum, amp := 0.0, 0.0
		for b := range dayBins {
			sum += m.dayBucket(b)
			amp = max(amp, math.Abs(m.dayBucket(b)))
		}
		if math.Abs(sum/dayBins) > 1e-3*amp+1e-6 {
			t.Fatalf("point %d: profile mean %v (largest bucket %v), want about 0", i, sum/dayBins, amp)
		}
	}
	if math.Abs(float64(m.dayOff)) > float64(dayFold)*c.SeasonRate*10 {
		t.Errorf("offset %v after %d points, want it folded", m.dayOff, len(s.Ts))
	}
	before := m
	m.foldDay()
	// Folding moves the offset's whole steps into the buckets: exact, but
	// for the float32 offset and, if the exponent had to rise, the
	// buckets' rounding to the coarser step.
	tol := 1e-6 * math.Max(1, math.Abs(float64(before.dayOff)))
	if m.dayExp > before.dayExp {
		tol += stepOf(m.dayExp) / 2
	}
	for b := range dayBins {
		if got, want := m.dayBucket(b), before.dayBucket(b); math.Abs(got-want) > tol {
			t.Errorf("bucket %d: %v after folding, %v before", b, got, want)
		}
	}
	if half := stepOf(before.dayExp) / 2; math.Abs(float64(m.dayOff)) > half*(1+1e-6) {
		t.Errorf("offset %v after folding, want at most half a step (%v)", m.dayOff, half)
	}
}
