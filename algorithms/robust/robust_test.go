package robust

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

func same(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b) || math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b))
}

func TestMedian(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		x    []float64
		want float64
	}{
		{nil, nan},
		{[]float64{5}, 5},
		{[]float64{3, 1}, 2},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, 1, 1, 1, 100}, 1},
		{[]float64{-5, -1, -3}, -3},
		{[]float64{7, 7, 7, 7}, 7},
		{[]float64{1, 2, 3, 4, 1000, 2000}, 3.5},
		{[]float64{math.Inf(1), 0, 1}, 1},
	}
	for _, c := range cases {
		in := slices.Clone(c.x)
		if got := Median(c.x, nil); !same(got, c.want) {
			t.Errorf("Median(%v) = %v, want %v", c.x, got, c.want)
		}
		if !slices.Equal(in, c.x) {
			t.Errorf("Median(%v) modified its input to %v", in, c.x)
		}
		s := slices.Sorted(slices.Values(c.x))
		if got := MedianSorted(s); !same(got, c.want) {
			t.Errorf("MedianSorted(%v) = %v, want %v", s, got, c.want)
		}
	}
}

func TestMAD(t *testing.T) {
	cases := []struct {
		x          []float64
		med, mad   float64
		meanAbsDev float64
	}{
		// The textbook example: deviations from 2 are 1 1 0 0 2 4 7.
		{[]float64{1, 1, 2, 2, 4, 6, 9}, 2, 1, 15.0 / 7},
		{[]float64{1, 2, 3, 4}, 2.5, 1, 1},
		{[]float64{5, 5, 5, 5, 100}, 5, 0, 19},
		{[]float64{-1, 1}, 0, 1, 1},
		{[]float64{10}, 10, 0, 0},
	}
	for _, c := range cases {
		med, mad := MedianMAD(c.x, nil)
		if !same(med, c.med) || !same(mad, c.mad) {
			t.Errorf("MedianMAD(%v) = %v, %v, want %v, %v", c.x, med, mad, c.med, c.mad)
		}
		if got := MAD(c.x, c.med, make([]float64, 0, len(c.x))); !same(got, c.mad) {
			t.Errorf("MAD(%v, %v) = %v, want %v", c.x, c.med, got, c.mad)
		}
		if got := MeanAbsDev(c.x, c.med); !same(got, c.meanAbsDev) {
			t.Errorf("MeanAbsDev(%v, %v) = %v, want %v", c.x, c.med, got, c.meanAbsDev)
		}
	}
	if got := MAD(nil, 0, nil); !math.IsNaN(got) {
		t.Errorf("MAD(nil) = %v, want NaN", got)
	}
}

func TestMADGaussianScale(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 200000)
	for i := range x {
		x[i] = 3 * r.NormFloat64()
	}
	_, mad := MedianMAD(x, nil)
	if got := MADToSigma * mad; math.Abs(got-3) > 0.03 {
		t.Errorf("MADToSigma*MAD of N(0,3²) = %v, want 3±0.03", got)
	}
	if got := MeanAbsToSigma * MeanAbsDev(x, 0); math.Abs(got-3) > 0.03 {
		t.Errorf("MeanAbsToSigma*MeanAbsDev of N(0,3²) = %v, want 3±0.03", got)
	}
}

func TestQuantile(t *testing.T) {
	x := []float64{4, 1, 3, 2} // sorted: 1 2 3 4
	cases := []struct {
		p, want float64
	}{
		{0, 1}, {1, 4}, {0.5, 2.5}, {0.25, 1.75}, {0.9, 3.7}, {1.0 / 3, 2},
	}
	for _, c := range cases {
		if got := Quantile(c.p, x, nil); !same(got, c.want) {
			t.Errorf("Quantile(%v, %v) = %v, want %v", c.p, x, got, c.want)
		}
		if got := QuantileSorted(c.p, []float64{1, 2, 3, 4}); !same(got, c.want) {
			t.Errorf("QuantileSorted(%v, [1 2 3 4]) = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Quantile(0.3, []float64{8}, nil); got != 8 {
		t.Errorf("Quantile(0.3, [8]) = %v, want 8", got)
	}
	if got := Quantile(0.5, nil, nil); !math.IsNaN(got) {
		t.Errorf("Quantile(0.5, nil) = %v, want NaN", got)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Quantile(1.5, x) did not panic")
		}
	}()
	Quantile(1.5, x, nil)
}

// TestSelectAgainstSort checks Select and Quantile against a full sort on
// random inputs with many ties and on adversarial orders.
func TestSelectAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		n := 1 + r.IntN(200)
		x := make([]float64, n)
		for i := range x {
			switch trial % 4 {
			case 0:
				x[i] = r.NormFloat64()
			case 1:
				x[i] = float64(r.IntN(4)) // many ties
			case 2:
				x[i] = float64(i) // sorted
			default:
				x[i] = float64(n - i) // reversed
			}
		}
		s := slices.Sorted(slices.Values(x))
		k := r.IntN(n)
		w := slices.Clone(x)
		if got := Select(w, k); got != s[k] {
			t.Fatalf("Select(%v, %d) = %v, want %v", x, k, got, s[k])
		}
		for i := range k {
			if w[i] > w[k] {
				t.Fatalf("Select(%v, %d): w[%d]=%v > w[k]=%v", x, k, i, w[i], w[k])
			}
		}
		p := r.Float64()
		if got, want := Quantile(p, x, nil), QuantileSorted(p, s); !same(got, want) {
			t.Fatalf("Quantile(%v, %v) = %v, want %v", p, x, got, want)
		}
	}
}

func TestRollingMedian(t *testing.T) {
	x := []float64{5, 1, 4, 2, 8, 3, 7}
	cases := []struct {
		window, offset int
		want           []float64
	}{
		{1, 0, x},
		{3, 1, []float64{4, 4, 2, 4, 3, 7, 7}},     // centred, shifted inwards at the ends
		{3, 3, []float64{4, 4, 4, 4, 2, 4, 3}},     // trailing, excluding x[i]
		{3, 2, []float64{4, 4, 4, 2, 4, 3, 7}},     // trailing, ending at x[i]
		{10, 5, []float64{4, 4, 4, 4, 4, 4, 4}},    // window longer than x
		{2, 1, []float64{3, 3, 2.5, 3, 5, 5.5, 5}}, // even window
	}
	for _, c := range cases {
		got := RollingMedian(nil, x, c.window, c.offset, nil)
		if !slices.EqualFunc(got, c.want, same) {
			t.Errorf("RollingMedian(%v, %d, %d) = %v, want %v", x, c.window, c.offset, got, c.want)
		}
	}
}

func TestRollingMedianAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for trial := range 200 {
		n := 1 + r.IntN(150)
		x := make([]float64, n)
		for i := range x {
			if trial%2 == 0 {
				x[i] = float64(r.IntN(5))
			} else {
				x[i] = r.NormFloat64()
			}
		}
		win := 1 + r.IntN(40)
		off := r.IntN(win + 1)
		got := RollingMedian(nil, x, win, off, nil)
		w := min(win, n)
		for i := range n {
			s := min(max(i-off, 0), n-w)
			if want := Median(x[s:s+w], nil); !same(got[i], want) {
				t.Fatalf("RollingMedian(%v, %d, %d)[%d] = %v, want %v", x, win, off, i, got[i], want)
			}
		}
	}
}

func BenchmarkMedian(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		r := rand.New(rand.NewPCG(1, 1))
		x := make([]float64, n)
		for i := range x {
			x[i] = r.NormFloat64()
		}
		work := make([]float64, n)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Median(x, work)
			}
		})
	}
}

func BenchmarkRollingMedian(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 40320)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	dst := make([]float64, len(x))
	for _, w := range []int{72, 288, 2016} {
		work := make([]float64, w)
		b.Run(strconv.Itoa(w), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				RollingMedian(dst, x, w, w/2, work)
			}
		})
	}
}
