package novelty

import (
	"math"
	"testing"
	"unsafe"
)

func TestRangeExcess(t *testing.T) {
	r := Range{Lo: 10, Hi: 20}
	cases := []struct {
		x, want float64
	}{
		{15, 0}, {10, 0}, {20, 0}, {25, 0.5}, {5, 0.5}, {40, 2},
	}
	for _, c := range cases {
		if got := r.Excess(c.x); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Range{10,20}.Excess(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if got := (Range{3, 3}).Excess(100); got != 0 {
		t.Errorf("Range{3,3}.Excess(100) = %v, want 0 (no width yet)", got)
	}
}

// run feeds vs to a fresh detector and returns the scores.
func run(cfg Config, vs []float64) []float64 {
	var d Detector
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = d.Update(&cfg, int64(i)*300_000, v)
	}
	return out
}

// sawtooth returns n points cycling 0,1,...,9.
func sawtooth(n int) []float64 {
	vs := make([]float64, n)
	for i := range vs {
		vs[i] = float64(i % 10)
	}
	return vs
}

func TestDetectorSpike(t *testing.T) {
	cfg := Config{Warmup: 50, SmoothRate: 0.2, SmoothTolerance: 0.05, Scale: 0.1, Quiet: 10}
	vs := sawtooth(200)
	vs[120] = 14 // 5 beyond the range [0,9]: excess 5/9
	sc := run(cfg, vs)
	want := 0.5 + 0.5*(1-math.Exp(-(5.0/9)/0.1))
	if math.Abs(sc[120]-want) > 1e-12 {
		t.Errorf("score at spike = %v, want %v", sc[120], want)
	}
	for i, s := range sc {
		if i != 120 && s != 0 {
			t.Errorf("score[%d] = %v, want 0 (only the spike is novel)", i, s)
		}
	}
}

func TestDetectorWarmup(t *testing.T) {
	cfg := Config{Warmup: 50, SmoothRate: 0.2, SmoothTolerance: 0.05, Scale: 0.1}
	vs := sawtooth(100)
	vs[30] = 100 // inside the warm-up: learned, not scored
	vs[80] = 50  // below the learned maximum 100
	for i, s := range run(cfg, vs) {
		if s != 0 {
			t.Errorf("score[%d] = %v, want 0", i, s)
		}
	}
}

func TestDetectorTolerance(t *testing.T) {
	cfg := Config{Warmup: 20, Tolerance: 0.1, SmoothRate: 0.2, SmoothTolerance: 1, Scale: 0.1}
	vs := sawtooth(100)
	vs[60] = 9.5 // excess 0.5/9 < 0.1: not novel, but widens the range to 9.5
	vs[70] = 11  // excess 1.5/9.5 - 0.1
	sc := run(cfg, vs)
	if sc[60] != 0 {
		t.Errorf("score within tolerance = %v, want 0", sc[60])
	}
	want := 0.5 + 0.5*(1-math.Exp(-(1.5/9.5-0.1)/0.1))
	if math.Abs(sc[70]-want) > 1e-12 {
		t.Errorf("score beyond tolerance = %v, want %v", sc[70], want)
	}
}

func TestDetectorSmoothedShift(t *testing.T) {
	// Alternating 0/10 has a smoothed value that stays near 5; a sustained
	// run of 9s keeps every raw value inside [0,10] but drives the smoothed
	// value above anything seen, so the smoothed range catches it.
	cfg := Config{Warmup: 100, Tolerance: 0, SmoothRate: 0.2, SmoothTolerance: 0.05, Scale: 0.1, Quiet: 1000}
	vs := make([]float64, 300)
	for i := range vs {
		vs[i] = float64(10 * (i % 2))
	}
	for i := 200; i < 230; i++ {
		vs[i] = 9
	}
	sc := run(cfg, vs)
	first := -1
	for i, s := range sc {
		if s > 0 {
			first = i
			break
		}
	}
	if first < 200 || first > 215 {
		t.Fatalf("first novel point = %d, want in [200,215] (scores %v)", first, sc[195:235])
	}
	if sc[first] < 0.5 || sc[first] > 1 {
		t.Errorf("score[%d] = %v, want in [0.5,1]", first, sc[first])
	}
	for i := first + 1; i < len(sc); i++ {
		if sc[i] != 0 {
			t.Errorf("score[%d] = %v, want 0 during the quiet period", i, sc[i])
		}
	}
}

func TestDetectorQuiet(t *testing.T) {
	cfg := Config{Warmup: 20, SmoothRate: 0.2, SmoothTolerance: 10, Scale: 0.1, Quiet: 5}
	vs := sawtooth(100)
	vs[50], vs[52], vs[60] = 20, 30, 40 // 52 is silenced, 60 is not
	sc := run(cfg, vs)
	for i, want := range map[int]bool{50: true, 52: false, 60: true} {
		if got := sc[i] > 0; got != want {
			t.Errorf("score[%d] > 0 = %v, want %v (score %v)", i, got, want, sc[i])
		}
	}
}

func TestDetectorNonFinite(t *testing.T) {
	// Non-finite values score 0 and leave the state as it was: the other
	// points score as if they had not been there.
	cfg := DefaultConfig()
	clean := sawtooth(300)
	clean[250] = 30
	dirty := append(append(append([]float64{}, clean[:200]...), math.NaN(), math.Inf(1), math.Inf(-1)), clean[200:]...)
	want, got := run(cfg, clean), run(cfg, dirty)
	for i := 200; i < 203; i++ {
		if got[i] != 0 {
			t.Errorf("score[%d] of %v = %v, want 0", i, dirty[i], got[i])
		}
	}
	got = append(got[:200], got[203:]...)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("score[%d] = %v with non-finite points, want %v", i, got[i], want[i])
		}
	}
	if want[250] < Threshold {
		t.Errorf("score at spike = %v, want >= %v", want[250], Threshold)
	}
}

func TestDetectorDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	vs := make([]float64, 2000)
	for i := range vs {
		vs[i] = math.Sin(float64(i)/20) + 0.1*math.Sin(float64(i*i)/7)
	}
	vs[1500] = 5
	a, b := run(cfg, vs), run(cfg, vs)
	for i := range a {
		if a[i] != b[i] || a[i] < 0 || a[i] > 1 {
			t.Fatalf("score[%d] = %v then %v, want equal and in [0,1]", i, a[i], b[i])
		}
	}
	if a[1500] < Threshold {
		t.Errorf("score at spike = %v, want >= Threshold %v", a[1500], Threshold)
	}
}

func TestDetectorSize(t *testing.T) {
	if got := unsafe.Sizeof(Detector{}); got != 112 {
		t.Errorf("unsafe.Sizeof(Detector{}) = %d, want 112", got)
	}
}

// daily returns hourly timestamps and values for days days: 10 from 08:00
// to 19:59 UTC, 0 otherwise.
func daily(days int) ([]int64, []float64) {
	ts := make([]int64, 24*days)
	vs := make([]float64, 24*days)
	for i := range ts {
		ts[i] = int64(i) * 3_600_000
		if h := i % 24; h >= 8 && h < 20 {
			vs[i] = 10
		}
	}
	return ts, vs
}

func TestDetectorSlot(t *testing.T) {
	cfg := Config{Warmup: 24, SmoothRate: 0.2, SmoothTolerance: 10, Scale: 0.1,
		Bins: 12, SlotDays: 7, SlotTolerance: 0.3}
	cases := []struct {
		name  string
		at    int // the hour whose value is set to 0 (a missing peak)
		score float64
	}{
		// Slot [12:00,14:00) has seen 10 only, on 9 days: excess 10/10 - 0.3.
		{"day 9 noon", 9*24 + 12, 0.5 + 0.5*(1-math.Exp(-0.7/0.1))},
		// On day 5 the slot has been seen on 5 days: too young.
		{"day 5 noon", 5*24 + 12, 0},
		// 0 is usual at 03:00.
		{"day 9 night", 9*24 + 3, 0},
	}
	for _, c := range cases {
		ts, vs := daily(12)
		vs[c.at] = 0
		var d Detector
		for i := range vs {
			got := d.Update(&cfg, ts[i], vs[i])
			want := 0.0
			if i == c.at {
				want = c.score
			}
			if math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: score[%d] = %v, want %v", c.name, i, got, want)
			}
		}
	}
}

func TestDetectorSlotOff(t *testing.T) {
	cfg := Config{Warmup: 24, SmoothRate: 0.2, SmoothTolerance: 10, Scale: 0.1,
		Bins: 0, SlotDays: 7, SlotTolerance: 0.3}
	ts, vs := daily(12)
	vs[9*24+12] = 0
	var d Detector
	for i := range vs {
		if got := d.Update(&cfg, ts[i], vs[i]); got != 0 {
			t.Errorf("Bins 0: score[%d] = %v, want 0", i, got)
		}
	}
}

// TestKindNamesTheNewExtreme: a spike far above everything seen leaves the
// raw and the smoothed range; the kind names the raw range, what a person
// sees, even though the smoothed range's excess is the larger.
func TestKindNamesTheNewExtreme(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Bins = 0
	var d Detector
	for i := range 400 {
		d.Update(&cfg, int64(i)*300_000, 100+float64(i%5))
	}
	if s := d.Update(&cfg, 400*300_000, 400); s < Threshold {
		t.Fatalf("spike to 400 scored %v, want >= %v", s, Threshold)
	}
	if k := d.Kind(); k != KindRaw {
		t.Errorf("Kind() after a new extreme = %d, want KindRaw", k)
	}
}

// TestSettle: the smoothed value's settling time is ceil(4/SmoothRate),
// whole quotients included, and 20 without a usable rate.
func TestSettle(t *testing.T) {
	for _, a := range []float64{1, 0.5, 0.3, 0.25, 0.1, 0.07, 0.05, 1e-3, 3e-7} {
		cfg := Config{SmoothRate: a}
		if got, want := cfg.settle(), int64(math.Ceil(4/a)); got != want {
			t.Errorf("settle at rate %v = %d, want %d", a, got, want)
		}
	}
	for _, a := range []float64{0, -0.1, 1.5, math.NaN()} {
		if got := (&Config{SmoothRate: a}).settle(); got != 20 {
			t.Errorf("settle at rate %v = %d, want 20", a, got)
		}
	}
}
