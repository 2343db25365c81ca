package models

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/internal/synth"
)

func samplesOf(s synth.Series) []anomaly.Sample {
	out := make([]anomaly.Sample, len(s.Ts))
	for i := range s.Ts {
		out[i] = anomaly.Sample{TimestampMs: s.Ts[i], Value: s.Values[i]}
	}
	return out
}

func anomalousIndices(res anomaly.BatchResult) []int {
	var out []int
	for i, v := range res.Verdicts {
		if v.State == anomaly.StateAnomalous {
			out = append(out, i)
		}
	}
	return out
}

// checkVerdicts asserts the invariants every batch result keeps.
func checkVerdicts(t *testing.T, in []anomaly.Sample, res anomaly.BatchResult, cfg BatchConfig) {
	t.Helper()
	if len(res.Verdicts) != len(in) {
		t.Fatalf("%d verdicts for %d points", len(res.Verdicts), len(in))
	}
	count := 0
	for i, v := range res.Verdicts {
		if v.Timestamp.UnixMilli() != in[i].TimestampMs || v.Value != in[i].Value || v.Series != in[i].Series {
			t.Fatalf("verdict %d is about (%v, %v, %q), want the input point (%d, %v, %q)",
				i, v.Timestamp, v.Value, v.Series, in[i].TimestampMs, in[i].Value, in[i].Series)
		}
		if !(v.Score >= 0 && v.Score <= 1) || !(v.Lower <= v.Expected && v.Expected <= v.Upper) {
			t.Fatalf("verdict %d: score %v, bounds %v <= %v <= %v, want score in [0,1] and ordered bounds", i, v.Score, v.Lower, v.Expected, v.Upper)
		}
		outside := v.Value < v.Lower || v.Value > v.Upper
		anom := v.State == anomaly.StateAnomalous
		if anom != (v.Score >= cfg.Threshold) || (outside && !anom) {
			t.Fatalf("verdict %d: state %v, score %v (threshold %v), value %v in [%v, %v]: state, score and band disagree",
				i, v.State, v.Score, cfg.Threshold, v.Value, v.Lower, v.Upper)
		}
		if v.State == anomaly.StateLearning {
			t.Fatalf("verdict %d is learning; batch verdicts never are", i)
		}
		if anom {
			count++
		}
	}
	if count != res.Anomalies {
		t.Fatalf("Anomalies = %d, but %d verdicts are anomalous", res.Anomalies, count)
	}
	// Score is monotone in |Z|.
	idx := make([]int, len(res.Verdicts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmpFloat(math.Abs(res.Verdicts[a].Z), math.Abs(res.Verdicts[b].Z))
	})
	for j := 1; j < len(idx); j++ {
		a, b := res.Verdicts[idx[j-1]], res.Verdicts[idx[j]]
		if b.Score < a.Score && math.Abs(b.Z) > math.Abs(a.Z) {
			t.Fatalf("score not monotone in |z|: |z| %v scores %v, |z| %v scores %v", math.Abs(a.Z), a.Score, math.Abs(b.Z), b.Score)
		}
	}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestDetectBatchScenario is the acceptance test for the batch
// endpoint's model: the injected spike, dip and level shift are found at
// their timestamps (the shift at its start).
func TestDetectBatchScenario(t *testing.T) {
	cfg := DefaultBatchConfig()
	for seed := range uint64(6) {
		sc := synth.NewScenario(seed)
		in := samplesOf(sc.Series)
		res, err := DetectBatch(in, 0, cfg)
		if err != nil {
			t.Fatalf("seed %d: DetectBatch: %v", seed, err)
		}
		checkVerdicts(t, in, res, cfg)
		if res.PeriodSeconds != 86400 {
			t.Errorf("seed %d: PeriodSeconds = %d, want 86400 (daily cycle)", seed, res.PeriodSeconds)
		}
		v := res.Verdicts
		if v[sc.Spike].State != anomaly.StateAnomalous || v[sc.Spike].Z < 5 {
			t.Errorf("seed %d: spike at %v: %+v, want anomalous with z > 5", seed, v[sc.Spike].Timestamp, v[sc.Spike])
		}
		if v[sc.Dip].State != anomaly.StateAnomalous || v[sc.Dip].Z > -5 {
			t.Errorf("seed %d: dip at %v: %+v, want anomalous with z < -5", seed, v[sc.Dip].Timestamp, v[sc.Dip])
		}
		if d := v[sc.Spike].Detector; d != DetectorSeasonal.String() {
			t.Errorf("seed %d: detector = %q, want %q", seed, d, DetectorSeasonal.String())
		}
		// The level shift: flagged from its first point or within two.
		first := -1
		for i := sc.ShiftAt - 2; i < len(v); i++ {
			if v[i].State == anomaly.StateAnomalous {
				first = i
				break
			}
		}
		if first < sc.ShiftAt || first > sc.ShiftAt+2 {
			t.Errorf("seed %d: first anomaly near the shift at index %d, want %d..%d (shift starts %v)",
				seed, first, sc.ShiftAt, sc.ShiftAt+2, v[sc.ShiftAt].Timestamp)
		}
		// Everything else: the shift is flagged for about half the 6-hour
		// trend window (36 points), then absorbed into the baseline; other
		// flags are false alarms, allowed at the test's 5% level, at most 2.
		extra := 0
		for _, i := range anomalousIndices(res) {
			if i != sc.Spike && i != sc.Dip && !(i >= sc.ShiftAt && i < sc.ShiftAt+72) {
				extra++
				t.Logf("seed %d: extra anomaly at %d (%v) z=%.2f", seed, i, v[i].Timestamp, v[i].Z)
			}
		}
		if extra > 2 {
			t.Errorf("seed %d: %d anomalies away from the injected ones, want <= 2", seed, extra)
		}
		if res.Anomalies > 60 {
			t.Errorf("seed %d: %d anomalies, want the shift absorbed (<= 60 in all)", seed, res.Anomalies)
		}
	}
}

// TestDetectBatchClean: fourteen days of a clean seasonal series yield no
// anomaly. The ESD test runs at alpha = 0.05, so about one clean series in
// twenty gets one false anomaly: over eight seeds allow one per series and
// two in all.
func TestDetectBatchClean(t *testing.T) {
	cfg := DefaultBatchConfig()
	total := 0
	for seed := range uint64(8) {
		s := synth.Generate(synth.Config{Points: 14 * 288, DailyAmp: 20, Noise: 2, Seed: seed})
		in := samplesOf(s)
		res, err := DetectBatch(in, 0, cfg)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		checkVerdicts(t, in, res, cfg)
		if res.PeriodSeconds != 86400 {
			t.Errorf("seed %d: PeriodSeconds = %d, want 86400", seed, res.PeriodSeconds)
		}
		if res.Anomalies > 1 {
			t.Errorf("seed %d: %d anomalies on a clean series at %v, want <= 1", seed, res.Anomalies, anomalousIndices(res))
		}
		total += res.Anomalies
	}
	if total > 2 {
		t.Errorf("%d anomalies over 8 clean series, want <= 2", total)
	}
}

// TestDetectBatchOrderAndDuplicates: shuffled input with duplicated
// timestamps gets the same judgement, answered in input order.
func TestDetectBatchOrderAndDuplicates(t *testing.T) {
	cfg := DefaultBatchConfig()
	sc := synth.NewScenario(2)
	in := samplesOf(sc.Series)
	for i := range in {
		in[i].Series = `cpu{host="a"}`
	}
	base, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Shuffle, and repeat 40 points with a value near their neighbour.
	r := rand.New(rand.NewPCG(9, 9))
	perm := r.Perm(len(in))
	shuf := make([]anomaly.Sample, 0, len(in)+40)
	for _, p := range perm {
		shuf = append(shuf, in[p])
	}
	for range 40 {
		j := r.IntN(len(in))
		if j == sc.Spike || j == sc.Dip || j >= sc.ShiftAt-1 {
			continue
		}
		d := in[j]
		d.Value += 0.1
		shuf = append(shuf, d)
	}
	res, err := DetectBatch(shuf, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, shuf, res, cfg)
	for k, p := range perm {
		got, want := res.Verdicts[k], base.Verdicts[p]
		if want.State == anomaly.StateAnomalous && got.State != anomaly.StateAnomalous && (p == sc.Spike || p == sc.Dip || p == sc.ShiftAt) {
			t.Errorf("input %d (original %d): state %v after shuffling, want %v", k, p, got.State, want.State)
		}
		if math.Abs(got.Expected-want.Expected) > 1 {
			t.Errorf("input %d (original %d): expected %v after shuffling, want %v ± 1", k, p, got.Expected, want.Expected)
		}
	}
}

func TestDetectBatchIrregular(t *testing.T) {
	// Jittered timestamps and 10% of points missing.
	sc := synth.NewScenario(5)
	r := rand.New(rand.NewPCG(5, 5))
	var in []anomaly.Sample
	pos := map[int]int{} // scenario index -> input index
	for i := range sc.Ts {
		if i != sc.Spike && i != sc.Dip && i != sc.ShiftAt && r.Float64() < 0.1 {
			continue
		}
		pos[i] = len(in)
		in = append(in, anomaly.Sample{TimestampMs: sc.Ts[i] + r.Int64N(60_001) - 30_000, Value: sc.Values[i]})
	}
	cfg := DefaultBatchConfig()
	res, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if res.PeriodSeconds != 86400 {
		t.Errorf("PeriodSeconds = %d, want 86400", res.PeriodSeconds)
	}
	for name, i := range map[string]int{"spike": sc.Spike, "dip": sc.Dip, "shift start": sc.ShiftAt} {
		if v := res.Verdicts[pos[i]]; v.State != anomaly.StateAnomalous {
			t.Errorf("%s: %+v, want anomalous", name, v)
		}
	}
}

func TestDetectBatchLevel(t *testing.T) {
	// No cycle: 500 points of noise around 50 with one spike.
	r := rand.New(rand.NewPCG(1, 1))
	in := make([]anomaly.Sample, 500)
	for i := range in {
		in[i] = anomaly.Sample{TimestampMs: int64(i) * 60_000, Value: 50 + r.NormFloat64()}
	}
	in[321].Value += 12
	cfg := DefaultBatchConfig()
	res, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if res.PeriodSeconds != 0 {
		t.Errorf("PeriodSeconds = %d, want 0", res.PeriodSeconds)
	}
	if got := anomalousIndices(res); !slices.Equal(got, []int{321}) {
		t.Errorf("anomalies at %v, want [321]", got)
	}
	if d := res.Verdicts[0].Detector; d != DetectorLevel.String() {
		t.Errorf("detector = %q, want %q", d, DetectorLevel.String())
	}
}

func TestDetectBatchExplicitPeriod(t *testing.T) {
	// Three days: too short to detect a daily cycle (three cycles needed
	// with a little margin), enough to use one given by the caller.
	s := synth.Generate(synth.Config{Points: 2*288 + 100, DailyAmp: 20, Noise: 1, Seed: 3})
	s.Spike(400, 15)
	in := samplesOf(s)
	cfg := DefaultBatchConfig()
	auto, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if auto.PeriodSeconds != 0 {
		t.Errorf("detected PeriodSeconds = %d on 2.3 days, want 0", auto.PeriodSeconds)
	}
	res, err := DetectBatch(in, 86400, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if res.PeriodSeconds != 86400 || res.Verdicts[400].State != anomaly.StateAnomalous || res.Verdicts[400].Detector != "seasonal" {
		t.Errorf("with period 86400: period %d, verdict at the spike %+v, want 86400 and a seasonal anomaly", res.PeriodSeconds, res.Verdicts[400])
	}
	if res.Anomalies > 3 {
		t.Errorf("with period 86400: %d anomalies at %v, want the spike and at most 2 more", res.Anomalies, anomalousIndices(res))
	}
}

func TestDetectBatchConstant(t *testing.T) {
	in := make([]anomaly.Sample, 100)
	for i := range in {
		in[i] = anomaly.Sample{TimestampMs: int64(i) * 1000, Value: 7}
	}
	cfg := DefaultBatchConfig()
	res, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if res.Anomalies != 0 || res.Verdicts[50].Expected != 7 || res.Verdicts[50].Z != 0 {
		t.Errorf("constant series: %d anomalies, verdict %+v, want none, expected 7, z 0", res.Anomalies, res.Verdicts[50])
	}
	in[60].Value = 8
	res, err = DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if got := anomalousIndices(res); !slices.Equal(got, []int{60}) {
		t.Errorf("constant series with one step: anomalies %v, want [60]", got)
	}
}

func TestDetectBatchErrors(t *testing.T) {
	ramp := func(n int, stepMs int64) []anomaly.Sample {
		out := make([]anomaly.Sample, n)
		for i := range out {
			out[i] = anomaly.Sample{TimestampMs: int64(i) * stepMs, Value: float64(i % 7)}
		}
		return out
	}
	withValue := func(s []anomaly.Sample, i int, v float64) []anomaly.Sample {
		s[i].Value = v
		return s
	}
	sameTime := ramp(100, 0)
	sparse := ramp(40, 1000)
	sparse[39].TimestampMs = 1e12
	small := DefaultBatchConfig()
	small.MaxPoints = 50
	bad := DefaultBatchConfig()
	bad.Alpha = 2
	cases := []struct {
		name   string
		in     []anomaly.Sample
		period int64
		cfg    BatchConfig
		code   anomaly.Code
		index  int
	}{
		{"empty", nil, 0, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"too few", ramp(31, 1000), 0, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"one timestamp", sameTime, 0, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"NaN", withValue(ramp(40, 1000), 17, math.NaN()), 0, DefaultBatchConfig(), anomaly.CodeInvalidValue, 17},
		{"Inf", withValue(ramp(40, 1000), 3, math.Inf(-1)), 0, DefaultBatchConfig(), anomaly.CodeInvalidValue, 3},
		{"negative period", ramp(40, 1000), -5, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"period below two steps", ramp(40, 60_000), 60, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"period longer than half the data", ramp(100, 60_000), 3600, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"sparse timestamps", sparse, 0, DefaultBatchConfig(), anomaly.CodeInvalidArgument, -1},
		{"too many", ramp(51, 1000), 0, small, anomaly.CodeLimit, -1},
		{"bad config", ramp(40, 1000), 0, bad, anomaly.CodeInvalidArgument, -1},
	}
	for _, c := range cases {
		_, err := DetectBatch(c.in, c.period, c.cfg)
		var e *anomaly.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: DetectBatch error = %v, want an *anomaly.Error", c.name, err)
			continue
		}
		if e.Code != c.code || e.Index != c.index || e.Message == "" {
			t.Errorf("%s: DetectBatch error = code %s index %d %q, want code %s index %d", c.name, e.Code, e.Index, e.Message, c.code, c.index)
		}
	}
}

func BenchmarkDetectBatch(b *testing.B) {
	for _, days := range []int{14, 140} {
		s := synth.Generate(synth.Config{Points: days * 288, DailyAmp: 20, Noise: 2, Seed: 1})
		in := samplesOf(s)
		cfg := DefaultBatchConfig()
		b.Run(strconv.Itoa(len(in)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DetectBatch(in, 0, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in)), "ns/point")
		})
	}
}

func TestDetectBatchWeekly(t *testing.T) {
	// Four weeks with a weekend dip: the weekly cycle is chosen, and a
	// weekday-like value on a Saturday afternoon is an anomaly.
	s := synth.Generate(synth.Config{Points: 28 * 288, DailyAmp: 20, WeeklyAmp: 15, Noise: 2, Seed: 8})
	sat := s.Index(synth.DefaultStart + (5*86400+15*3600)*1000) // Saturday of week 1, 15:00
	s.Spike(sat, 15)
	in := samplesOf(s)
	cfg := DefaultBatchConfig()
	res, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if res.PeriodSeconds != 7*86400 {
		t.Errorf("PeriodSeconds = %d, want %d (weekly)", res.PeriodSeconds, 7*86400)
	}
	if v := res.Verdicts[sat]; v.State != anomaly.StateAnomalous {
		t.Errorf("weekday level on a Saturday: %+v, want anomalous", v)
	}
	if res.Anomalies > 3 {
		t.Errorf("%d anomalies at %v, want the injected one and at most 2 more", res.Anomalies, anomalousIndices(res))
	}
}

func TestDetectBatchPhaseScale(t *testing.T) {
	// Noise with standard deviation 1 at night and 4 from 09:00 to 18:00,
	// as busy hours often are: judged against one global scale, the day's
	// ordinary swings look extreme; against each phase's own scale they do
	// not, and a night-time blip of 8 (8 sigma at night, 2 by day) is found.
	r := rand.New(rand.NewPCG(4, 4))
	s := synth.Generate(synth.Config{Points: 14 * 288, DailyAmp: 20, Seed: 4})
	for k := range s.Values {
		sd := 1.0
		if ph := k % 288; ph >= 108 && ph < 216 {
			sd = 4
		}
		s.Values[k] += sd * r.NormFloat64()
	}
	blip := 5*288 + 36 // day 5, 03:00
	s.Spike(blip, 8)
	in := samplesOf(s)
	cfg := DefaultBatchConfig()
	res, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, res, cfg)
	if got := anomalousIndices(res); !slices.Equal(got, []int{blip}) {
		t.Errorf("per-phase scale: anomalies at %v, want [%d]", got, blip)
	}
	if v := res.Verdicts[blip+288*2]; v.Upper-v.Lower > 15 {
		t.Errorf("night band width = %.1f, want < 15 (about 2·4.4·1)", v.Upper-v.Lower)
	}
	cfg.PhaseScaleRatio = 0
	global, err := DetectBatch(in, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkVerdicts(t, in, global, cfg)
	if global.Anomalies < 5 {
		t.Errorf("one global scale: %d anomalies, want >= 5 daytime false alarms (this test shows why the phase scale exists)", global.Anomalies)
	}
}
