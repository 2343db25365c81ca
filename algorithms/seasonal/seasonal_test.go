package seasonal

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/anomalyd/detector/algorithms/robust"
	"github.com/anomalyd/detector/internal/synth"
)

func TestRegularize(t *testing.T) {
	cases := []struct {
		name   string
		ts     []int64
		vals   []float64
		step   int64
		values []float64
		slot   []int
		filled int
	}{
		{"regular", []int64{0, 10, 20, 30}, []float64{1, 2, 3, 4}, 10, []float64{1, 2, 3, 4}, []int{0, 1, 2, 3}, 0},
		{"jitter", []int64{100, 111, 119, 131, 140}, []float64{1, 2, 3, 4, 5}, 10, []float64{1, 2, 3, 4, 5}, []int{0, 1, 2, 3, 4}, 0},
		{"gap interpolated", []int64{0, 10, 40, 50}, []float64{0, 10, 40, 50}, 10, []float64{0, 10, 20, 30, 40, 50}, []int{0, 1, 4, 5}, 2},
		{"duplicates take the median", []int64{0, 10, 10, 10, 20}, []float64{1, 5, 100, 6, 3}, 10, []float64{1, 6, 3}, []int{0, 1, 1, 1, 2}, 0},
		{"unit agnostic (ms)", []int64{0, 300000, 600000, 1200000}, []float64{1, 2, 3, 5}, 300000, []float64{1, 2, 3, 4, 5}, []int{0, 1, 2, 4}, 1},
	}
	var g Grid
	for _, c := range cases {
		if err := Regularize(&g, c.ts, c.vals, 0, nil); err != nil {
			t.Errorf("%s: Regularize(%v) error %v", c.name, c.ts, err)
			continue
		}
		if g.Step != c.step || g.Start != c.ts[0] || !slices.Equal(g.Values, c.values) || !slices.Equal(g.Slot, c.slot) || g.Filled != c.filled {
			t.Errorf("%s: Regularize(%v, %v) = step %d start %d values %v slots %v filled %d, want step %d start %d values %v slots %v filled %d",
				c.name, c.ts, c.vals, g.Step, g.Start, g.Values, g.Slot, g.Filled, c.step, c.ts[0], c.values, c.slot, c.filled)
		}
	}
}

func TestRegularizeErrors(t *testing.T) {
	cases := []struct {
		name     string
		ts       []int64
		vals     []float64
		maxSlots int
	}{
		{"empty", nil, nil, 0},
		{"one timestamp", []int64{5, 5, 5}, []float64{1, 2, 3}, 0},
		{"unsorted", []int64{0, 20, 10}, []float64{1, 2, 3}, 0},
		{"length mismatch", []int64{0, 10}, []float64{1}, 0},
		{"span too long", []int64{0, 10, 20, 1000000}, []float64{1, 2, 3, 4}, 0},
		{"over the given limit", []int64{0, 10, 20, 30}, []float64{1, 2, 3, 4}, 3},
	}
	var g Grid
	for _, c := range cases {
		if err := Regularize(&g, c.ts, c.vals, c.maxSlots, nil); err == nil {
			t.Errorf("%s: Regularize(%v, %v, %d) = nil error, want an error", c.name, c.ts, c.vals, c.maxSlots)
		}
	}
}

func whiteNoise(seed uint64, n int) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func randomWalk(seed uint64, n int) []float64 {
	x := whiteNoise(seed, n)
	for i := 1; i < n; i++ {
		x[i] += x[i-1]
	}
	return x
}

const day, week = 288, 2016 // slots of 5 minutes

func TestDetectPeriod(t *testing.T) {
	var w Work
	cfg := DefaultPeriodConfig(day, week)
	for seed := range uint64(5) {
		cases := []struct {
			name string
			x    []float64
			want int
		}{
			{"daily, 7 days", synth.Generate(synth.Config{Points: 7 * day, DailyAmp: 20, Noise: 2, Seed: seed}).Values, day},
			{"weak daily, 14 days", synth.Generate(synth.Config{Points: 14 * day, DailyAmp: 3, Noise: 2, Seed: seed}).Values, day},
			{"daily, 3 days", synth.Generate(synth.Config{Points: 3 * day, DailyAmp: 10, Noise: 2, Seed: seed}).Values, day},
			{"daily and weekend, 28 days", synth.Generate(synth.Config{Points: 28 * day, DailyAmp: 20, WeeklyAmp: 15, Noise: 2, Seed: seed}).Values, week},
			{"daily only, 28 days", synth.Generate(synth.Config{Points: 28 * day, DailyAmp: 20, Noise: 2, Seed: seed}).Values, day},
			{"white noise", whiteNoise(seed, 14*day), 0},
			{"random walk", randomWalk(seed, 14*day), 0},
			{"random walk, 4 days", randomWalk(seed+100, 4*day), 0},
			{"constant", make([]float64, 7*day), 0},
			{"too short for a day", synth.Generate(synth.Config{Points: 2 * day, DailyAmp: 20, Noise: 2, Seed: seed}).Values, 0},
		}
		for _, c := range cases {
			got, scores := DetectPeriod(c.x, cfg, nil, &w)
			if got != c.want {
				t.Errorf("seed %d, %s: DetectPeriod = %d, want %d (scores %+v)", seed, c.name, got, c.want, scores)
			}
		}
	}
}

func TestDetectPeriodScores(t *testing.T) {
	x := synth.Generate(synth.Config{Points: 7 * day, DailyAmp: 20, Noise: 2, Seed: 1}).Values
	_, scores := DetectPeriod(x, DefaultPeriodConfig(day, week), nil, nil)
	if len(scores) != 2 {
		t.Fatalf("len(scores) = %d, want 2", len(scores))
	}
	if s := scores[0]; !s.Tested || s.ACF < 0.9 || s.ACF <= s.Threshold {
		t.Errorf("daily score = %+v, want tested with ACF > 0.9 above its threshold", s)
	}
	if s := scores[1]; s.Tested {
		t.Errorf("weekly score = %+v, want untested on 7 days (3 weeks needed)", s)
	}
}

func TestDecomposeSeasonal(t *testing.T) {
	const n, noise = 14 * day, 2.0
	s := synth.Generate(synth.Config{Points: n, DailyAmp: 20, Noise: noise, Seed: 3})
	var d Decomposition
	if err := Decompose(&d, s.Values, day, 72, nil); err != nil {
		t.Fatal(err)
	}
	// The profile is the sine, up to the estimation error of a median of 14.
	for ph := range day {
		want := 20 * math.Sin(2*math.Pi*float64(ph)/day)
		if got := d.Profile[ph]; math.Abs(got-want) > 2.5 {
			t.Errorf("Profile[%d] = %.2f, want %.2f ± 2.5", ph, got, want)
		}
	}
	// Trend near the level, residuals near the noise.
	for k := range n {
		if math.Abs(d.Trend[k]-100) > 2 {
			t.Fatalf("Trend[%d] = %.2f, want 100 ± 2", k, d.Trend[k])
		}
		if got := d.Trend[k] + d.Seasonal[k] + d.Resid[k]; math.Abs(got-s.Values[k]) > 1e-9 {
			t.Fatalf("Trend+Seasonal+Resid at %d = %v, want x = %v", k, got, s.Values[k])
		}
	}
	_, mad := robust.MedianMAD(d.Resid, nil)
	if sd := robust.MADToSigma * mad; math.Abs(sd-noise) > 0.4 {
		t.Errorf("robust sd of residuals = %.2f, want %.1f ± 0.4", sd, noise)
	}
}

func TestDecomposeLevelShiftAndSpike(t *testing.T) {
	sc := synth.NewScenario(4)
	var d Decomposition
	const W = 72
	if err := Decompose(&d, sc.Values, day, W, nil); err != nil {
		t.Fatal(err)
	}
	if r := d.Resid[sc.Spike]; r < 30 {
		t.Errorf("Resid at the +40 spike = %.1f, want > 30", r)
	}
	if r := d.Resid[sc.Dip]; r > -30 {
		t.Errorf("Resid at the -40 dip = %.1f, want < -30", r)
	}
	// The +30 shift shows at full height from its first point...
	for k := sc.ShiftAt; k < sc.ShiftAt+W/2-6; k++ {
		if r := d.Resid[k]; r < 20 {
			t.Errorf("Resid[%d] (%d after the shift) = %.1f, want > 20", k, k-sc.ShiftAt, r)
		}
	}
	// ...and the trend has absorbed it one window later.
	for k := sc.ShiftAt + W; k < len(sc.Values); k++ {
		if r := d.Resid[k]; math.Abs(r) > 12 {
			t.Errorf("Resid[%d] (%d after the shift) = %.1f, want |r| <= 12", k, k-sc.ShiftAt, r)
		}
	}
}

func TestDecomposeLevel(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	var d Decomposition
	if err := Decompose(&d, x, 0, 3, nil); err != nil {
		t.Fatal(err)
	}
	wantTrend := []float64{2, 2, 2, 2, 3, 4, 5, 6, 7, 8}
	if !slices.Equal(d.Trend, wantTrend) || len(d.Profile) != 0 || slices.ContainsFunc(d.Seasonal, func(v float64) bool { return v != 0 }) {
		t.Errorf("Decompose(%v, 0, 3) = trend %v profile %v seasonal %v, want trend %v, no profile, zero seasonal",
			x, d.Trend, d.Profile, d.Seasonal, wantTrend)
	}
}

func TestDecomposeErrors(t *testing.T) {
	x := make([]float64, 10)
	cases := []struct {
		x              []float64
		period, window int
	}{
		{nil, 0, 3}, {x, 1, 3}, {x, -2, 3}, {x, 6, 3}, {x, 0, 0},
	}
	var d Decomposition
	for _, c := range cases {
		if err := Decompose(&d, c.x, c.period, c.window, nil); err == nil {
			t.Errorf("Decompose(len %d, %d, %d) = nil error, want an error", len(c.x), c.period, c.window)
		}
	}
}

func BenchmarkDetectPeriod(b *testing.B) {
	for _, days := range []int{14, 140} {
		x := synth.Generate(synth.Config{Points: days * day, DailyAmp: 20, Noise: 2, Seed: 1}).Values
		b.Run(strconv.Itoa(len(x)), func(b *testing.B) {
			var w Work
			cfg := DefaultPeriodConfig(day, week)
			var scores []PeriodScore
			b.ReportAllocs()
			for b.Loop() {
				_, scores = DetectPeriod(x, cfg, scores, &w)
			}
		})
	}
}

func BenchmarkDecompose(b *testing.B) {
	for _, days := range []int{14, 140} {
		x := synth.Generate(synth.Config{Points: days * day, DailyAmp: 20, Noise: 2, Seed: 1}).Values
		b.Run(strconv.Itoa(len(x)), func(b *testing.B) {
			var w Work
			var d Decomposition
			b.ReportAllocs()
			for b.Loop() {
				if err := Decompose(&d, x, day, 72, &w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestSmooth(t *testing.T) {
	isSmooth := func(v int) bool {
		for _, p := range []int{2, 3, 5} {
			for v%p == 0 {
				v /= p
			}
		}
		return v == 1
	}
	for n := 1; n <= 50000; n += 1 + n/100 {
		got := smooth(n)
		if got < n || !isSmooth(got) {
			t.Fatalf("smooth(%d) = %d, want a 2-3-5-smooth number >= n", n, got)
		}
		for v := n; v < got; v++ {
			if isSmooth(v) {
				t.Fatalf("smooth(%d) = %d, want %d", n, got, v)
			}
		}
	}
}

func TestPhaseScale(t *testing.T) {
	// Residuals with standard deviation 1 at night and 4 by day.
	r := rand.New(rand.NewPCG(2, 2))
	x := make([]float64, 14*day)
	for k := range x {
		sd := 1.0
		if ph := k % day; ph >= 108 && ph < 216 { // 09:00 to 18:00
			sd = 4
		}
		x[k] = sd * r.NormFloat64()
	}
	s := PhaseScale(nil, x, day, nil)
	if len(s) != day {
		t.Fatalf("len(PhaseScale) = %d, want %d", len(s), day)
	}
	// Phases 108 and 215 are the day's first and last: they take the day's
	// scale, not a blend with the night's.
	for _, c := range []struct {
		ph   int
		want float64
	}{{0, 1}, {50, 1}, {108, 4}, {150, 4}, {200, 4}, {215, 4}, {250, 1}} {
		if got := s[c.ph]; math.Abs(got-c.want) > 0.2*c.want {
			t.Errorf("PhaseScale[%d] = %.2f, want %.1f ± 20%%", c.ph, got, c.want)
		}
	}
	// Night phases just before the day lean towards it (conservative).
	if got := s[104]; !(got > 1.5) {
		t.Errorf("PhaseScale[104] = %.2f, want > 1.5 (four phases before the day)", got)
	}
}
