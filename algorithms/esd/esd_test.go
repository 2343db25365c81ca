package esd

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/anomalyd/detector/algorithms/robust"
)

// rosner is the example of Rosner (1983) as tabulated in the NIST/SEMATECH
// e-Handbook of Statistical Methods, section 1.3.5.17.3: 54 values of which
// the three largest are outliers at the 5% level.
var rosner = []float64{
	-0.25, 0.68, 0.94, 1.15, 1.20, 1.26, 1.26, 1.34, 1.38, 1.43, 1.49, 1.49,
	1.55, 1.56, 1.58, 1.65, 1.69, 1.70, 1.76, 1.77, 1.81, 1.91, 1.94, 1.96,
	1.99, 2.06, 2.09, 2.10, 2.14, 2.15, 2.23, 2.24, 2.26, 2.35, 2.37, 2.40,
	2.47, 2.54, 2.62, 2.64, 2.90, 2.92, 2.92, 2.93, 3.21, 3.26, 3.30, 3.59,
	3.68, 4.30, 4.64, 5.34, 5.42, 6.01,
}

// The handbook's table for r = 10, alpha = 0.05, truncated (not rounded) to
// three decimals.
var (
	rosnerStat = []float64{3.118, 2.942, 3.179, 2.810, 2.815, 2.848, 2.279, 2.310, 2.101, 2.067}
	rosnerCrit = []float64{3.158, 3.151, 3.143, 3.136, 3.128, 3.120, 3.111, 3.103, 3.094, 3.085}
)

func TestRosnerExample(t *testing.T) {
	var res Result
	if err := Test(&res, rosner, Config{MaxOutliers: 10, Alpha: 0.05, Estimator: MeanSD}, nil); err != nil {
		t.Fatal(err)
	}
	if res.Outliers != 3 {
		t.Errorf("Outliers = %d, want 3", res.Outliers)
	}
	if got, want := res.OutlierIndices(), []int{53, 52, 51}; !slices.Equal(got, want) {
		t.Errorf("OutlierIndices() = %v, want %v (6.01, 5.42, 5.34)", got, want)
	}
	for i := range 10 {
		if got := res.Stat[i]; !truncEq(got, rosnerStat[i]) {
			t.Errorf("R%d = %.5f, want %.3f", i+1, got, rosnerStat[i])
		}
		if got := Critical(len(rosner), i+1, 0.05); !truncEq(got, rosnerCrit[i]) {
			t.Errorf("Critical(54, %d, 0.05) = %.5f, want %.3f", i+1, got, rosnerCrit[i])
		}
		if c := res.Crit[i]; !math.IsNaN(c) && !truncEq(c, rosnerCrit[i]) {
			t.Errorf("Crit[%d] = %.5f, want %.3f or NaN", i, c, rosnerCrit[i])
		}
	}
}

// truncEq reports whether got truncated to three decimals is want.
func truncEq(got, want float64) bool {
	return int(math.Floor(got*1000)) == int(math.Round(want*1000))
}

func TestRosnerExampleShuffled(t *testing.T) {
	// The outcome does not depend on the order of the sample.
	r := rand.New(rand.NewPCG(7, 7))
	x := slices.Clone(rosner)
	perm := r.Perm(len(x))
	for i, p := range perm {
		x[i] = rosner[p]
	}
	var res Result
	if err := Test(&res, x, Config{MaxOutliers: 10, Alpha: 0.05}, nil); err != nil {
		t.Fatal(err)
	}
	var got []float64
	for _, i := range res.OutlierIndices() {
		got = append(got, x[i])
	}
	if want := []float64{6.01, 5.42, 5.34}; !slices.Equal(got, want) {
		t.Errorf("outlier values = %v, want %v", got, want)
	}
}

func TestCriticalDecreases(t *testing.T) {
	for _, n := range []int{10, 54, 500, 4032} {
		prev := math.Inf(1)
		for i := 1; i <= n-2; i += max(1, n/50) {
			c := Critical(n, i, 0.05)
			if !(c < prev) {
				t.Fatalf("Critical(%d, %d, 0.05) = %v, not below the previous %v", n, i, c, prev)
			}
			prev = c
		}
	}
}

func TestMedianMAD(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := make([]float64, 1000)
	for i := range x {
		x[i] = 10 + r.NormFloat64()
	}
	// Six gross outliers on both sides, one moderate one.
	out := map[int]float64{17: 30, 200: -25, 201: -24, 555: 40, 800: 22, 999: -18, 400: 16}
	for i, v := range out {
		x[i] = v
	}
	var res Result
	var w Work
	cfg := Config{MaxOutliers: 20, Alpha: 0.05, Estimator: MedianMAD}
	if err := Test(&res, x, cfg, &w); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(res.OutlierIndices()))
	want := []int{17, 200, 201, 400, 555, 800, 999}
	if !slices.Equal(got, want) {
		t.Errorf("MedianMAD outliers = %v, want %v", got, want)
	}
	// The first removed is the farthest from the median.
	if res.Index[0] != 200 {
		t.Errorf("Index[0] = %d, want 200 (value -25, 35 from the median)", res.Index[0])
	}
	// Reusing Work and Result gives the same answer.
	first := slices.Clone(res.Index)
	if err := Test(&res, x, cfg, &w); err != nil || !slices.Equal(res.Index, first) {
		t.Errorf("second run Index = %v (err %v), want %v", res.Index, err, first)
	}
}

func TestMedianMADNoOutliersInGaussian(t *testing.T) {
	// At alpha = 0.05 about 5% of clean samples have a false outlier; over
	// 40 samples expect ~2 and accept up to 6 (binomial tail < 1%).
	false_ := 0
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 99))
		x := make([]float64, 500)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		var res Result
		if err := Test(&res, x, Config{MaxOutliers: 25, Alpha: 0.05, Estimator: MedianMAD}, nil); err != nil {
			t.Fatal(err)
		}
		if res.Outliers > 0 {
			false_++
		}
	}
	if false_ > 6 {
		t.Errorf("%d of 40 clean Gaussian samples had outliers, want <= 6", false_)
	}
}

// TestMedianScaleAgainstBruteForce checks the O(log n) median and MAD of a
// sorted range against robust.MedianMAD.
func TestMedianScaleAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	var w Work
	for trial := range 2000 {
		n := 1 + r.IntN(60)
		s := make([]float64, n)
		for i := range s {
			if trial%3 == 0 {
				s[i] = float64(r.IntN(6))
			} else {
				s[i] = r.NormFloat64()
			}
		}
		slices.Sort(s)
		w.sorted = s
		w.prefix = w.prefix[:0]
		lo := r.IntN(n)
		hi := lo + 1 + r.IntN(n-lo)
		c, scale := w.medianScale(lo, hi)
		med, mad := robust.MedianMAD(s[lo:hi], nil)
		want := robust.MADToSigma * mad
		if mad == 0 {
			want = robust.MeanAbsToSigma * robust.MeanAbsDev(s[lo:hi], med)
		}
		if c != med || math.Abs(scale-want) > 1e-9 {
			t.Fatalf("medianScale(%v) = %v, %v, want %v, %v", s[lo:hi], c, scale, med, want)
		}
	}
}

func TestZeroScale(t *testing.T) {
	// A constant series with one different point: the point is an outlier
	// with an infinite statistic, the rest are not.
	x := make([]float64, 50)
	for i := range x {
		x[i] = 3
	}
	x[10] = 4
	for _, est := range []Estimator{MeanSD, MedianMAD} {
		var res Result
		if err := Test(&res, x, Config{MaxOutliers: 3, Alpha: 0.05, Estimator: est}, nil); err != nil {
			t.Fatal(err)
		}
		if got := res.OutlierIndices(); !slices.Equal(got, []int{10}) {
			t.Errorf("estimator %d: outliers = %v (stats %v), want [10]", est, got, res.Stat)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5}
	cases := []struct {
		x   []float64
		cfg Config
	}{
		{x[:2], Config{MaxOutliers: 1, Alpha: 0.05}},
		{x, Config{MaxOutliers: 0, Alpha: 0.05}},
		{x, Config{MaxOutliers: 4, Alpha: 0.05}},
		{x, Config{MaxOutliers: 1, Alpha: 0}},
		{x, Config{MaxOutliers: 1, Alpha: 1}},
		{x, Config{MaxOutliers: 1, Alpha: 0.05, Estimator: 9}},
	}
	for _, c := range cases {
		var res Result
		if err := Test(&res, c.x, c.cfg, nil); err == nil {
			t.Errorf("Test(%v, %+v) = nil error, want an error", c.x, c.cfg)
		}
	}
}

func BenchmarkTest(b *testing.B) {
	for _, n := range []int{4032, 40320} {
		r := rand.New(rand.NewPCG(1, 1))
		x := make([]float64, n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		for _, est := range []Estimator{MeanSD, MedianMAD} {
			b.Run(strconv.Itoa(n)+"/"+[]string{"meansd", "medianmad"}[est], func(b *testing.B) {
				var res Result
				var w Work
				cfg := Config{MaxOutliers: n / 50, Alpha: 0.05, Estimator: est}
				b.ReportAllocs()
				for b.Loop() {
					if err := Test(&res, x, cfg, &w); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
