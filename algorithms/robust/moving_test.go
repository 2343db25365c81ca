package robust

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bitSame reports whether a and b are the same float64, NaN equal to NaN
// (and -0 to +0: pandas' skiplist may keep either of two equal zeros).
func bitSame(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

// naiveRolling is pandas' rolling(window, min_periods).median() written
// out: for each i the finite values of x[i-window+1 : i+1], sorted.
func naiveRolling(x []float64, window, minPeriods int) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		var vals []float64
		for _, v := range x[max(0, i-window+1) : i+1] {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals = append(vals, v)
			}
		}
		slices.Sort(vals)
		n := len(vals)
		switch {
		case n < minPeriods || n == 0:
			out[i] = math.NaN()
		case n%2 == 1:
			out[i] = vals[n/2]
		default:
			out[i] = (vals[n/2] + vals[n/2-1]) / 2
		}
	}
	return out
}

// naiveZ is the pandas recipe on whole arrays.
func naiveZ(x []float64, window, minPeriods int, scale float64) (z, med, mad []float64) {
	med = naiveRolling(x, window, minPeriods)
	dev := make([]float64, len(x))
	for i := range x {
		dev[i] = math.Abs(x[i] - med[i])
	}
	mad = naiveRolling(dev, window, minPeriods)
	z = make([]float64, len(x))
	for i := range x {
		z[i] = (x[i] - med[i]) / (scale * mad[i])
	}
	return z, med, mad
}

// streams returns named adversarial and random inputs.
func streams(r *rand.Rand) map[string][]float64 {
	nan, inf := math.NaN(), math.Inf(1)
	gen := func(n int, f func(i int) float64) []float64 {
		x := make([]float64, n)
		for i := range x {
			x[i] = f(i)
		}
		return x
	}
	return map[string][]float64{
		"empty":     nil,
		"one":       {3},
		"gaussian":  gen(500, func(int) float64 { return r.NormFloat64() }),
		"ties":      gen(500, func(int) float64 { return float64(r.IntN(4)) }),
		"constant":  gen(300, func(int) float64 { return 7 }),
		"runs":      gen(600, func(i int) float64 { return float64((i / 50) % 3) }),
		"ascending": gen(300, func(i int) float64 { return float64(i) }),
		"descend":   gen(300, func(i int) float64 { return float64(-i) }),
		"sawtooth":  gen(400, func(i int) float64 { return float64(i % 17) }),
		"allnan":    gen(200, func(int) float64 { return nan }),
		"nanruns": gen(600, func(i int) float64 {
			if (i/40)%2 == 1 {
				return nan
			}
			return r.NormFloat64()
		}),
		"sparse": gen(600, func(i int) float64 {
			switch r.IntN(4) {
			case 0:
				return nan
			case 1:
				return inf
			case 2:
				return -inf
			}
			return float64(r.IntN(3))
		}),
		"spikes": gen(600, func(int) float64 {
			if r.IntN(20) == 0 {
				return 1e6 * r.NormFloat64()
			}
			return r.NormFloat64()
		}),
		"huge": gen(300, func(int) float64 { // (a+b)/2 and x-med overflow
			return math.MaxFloat64 * float64(r.IntN(3)-1)
		}),
		"zeros": gen(300, func(int) float64 { return float64(r.IntN(2)) * math.Copysign(0, r.NormFloat64()) }),
	}
}

func TestMovingMedianAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for name, x := range streams(r) {
		for _, window := range []int{1, 2, 3, 4, 7, 30, 60, 61} {
			for _, minp := range []int{1, window / 2, window} {
				var m MovingMedian
				m.Init(window, minp, nil)
				want := naiveRolling(x, window, max(minp, 1))
				for i, v := range x {
					if got := m.Push(v); !bitSame(got, want[i]) {
						t.Fatalf("%s window %d minp %d: median at %d = %v, want %v", name, window, minp, i, got, want[i])
					}
					if got := m.Median(); !bitSame(got, want[i]) {
						t.Fatalf("%s: Median() = %v after Push gave %v", name, got, want[i])
					}
				}
			}
		}
	}
}

func TestMovingMedianRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for trial := range 300 {
		n := r.IntN(400)
		levels := 1 + r.IntN(6) // few levels: many ties
		x := make([]float64, n)
		for i := range x {
			switch {
			case r.IntN(10) == 0:
				x[i] = math.NaN()
			case trial%2 == 0:
				x[i] = float64(r.IntN(levels))
			default:
				x[i] = r.NormFloat64()
			}
		}
		window := 1 + r.IntN(80)
		minp := r.IntN(window + 2)
		var m MovingMedian
		m.Init(window, minp, make([]float64, MovingMedianFloats(window)))
		want := naiveRolling(x, window, min(max(minp, 1), window))
		for i, v := range x {
			if got := m.Push(v); !bitSame(got, want[i]) {
				t.Fatalf("trial %d window %d minp %d: median at %d = %v, want %v (x=%v)", trial, window, minp, i, got, want[i], x)
			}
		}
		// Reset starts a fresh stream on the same storage.
		m.Reset()
		for i, v := range x[:min(n, 10)] {
			if got := m.Push(v); !bitSame(got, want[i]) {
				t.Fatalf("after Reset: median at %d = %v, want %v", i, got, want[i])
			}
		}
	}
}

func TestMovingZAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 8))
	for name, x := range streams(r) {
		for _, window := range []int{2, 5, 60} {
			minp := window / 2
			zw, medw, madw := naiveZ(x, window, minp, 1.4826)
			var z MovingZ
			z.Init(window, minp, 1.4826, nil)
			for i, v := range x {
				score, med, mad := z.Push(v)
				if !bitSame(med, medw[i]) || !bitSame(mad, madw[i]) || !bitSame(score, zw[i]) {
					t.Fatalf("%s window %d at %d: z, med, mad = %v, %v, %v, want %v, %v, %v", name, window, i, score, med, mad, zw[i], medw[i], madw[i])
				}
			}
		}
	}
}

func TestMovingZEdges(t *testing.T) {
	var z MovingZ
	z.Init(4, 2, MADToSigma, nil)
	// med answers at the 2nd value, the MAD (over deviations that exist
	// from the 2nd value on) at the 3rd.
	got := []float64{}
	for _, v := range []float64{1, 1, 1, 1, 5} {
		s, _, _ := z.Push(v)
		got = append(got, s)
	}
	// Constant run: MAD 0, so a value on the median is 0/0 = NaN and a
	// value off it is +Inf.
	if !math.IsNaN(got[0]) || !math.IsNaN(got[1]) || !math.IsNaN(got[2]) || !math.IsNaN(got[3]) || !math.IsInf(got[4], 1) {
		t.Fatalf("z over 1,1,1,1,5 = %v, want NaN NaN NaN NaN +Inf", got)
	}
}

func ExampleMovingZ() {
	var z MovingZ
	z.Init(5, 2, 1.4826, nil)
	for _, v := range []float64{10, 11, 9, 10, 12, 10, 40} {
		s, med, mad := z.Push(v)
		fmt.Printf("%v: median %v, MAD %v, z %.2f\n", v, med, mad, s)
	}
	// Output:
	// 10: median NaN, MAD NaN, z NaN
	// 11: median 10.5, MAD NaN, z NaN
	// 9: median 10, MAD 0.75, z -0.90
	// 10: median 10, MAD 0.5, z 0.00
	// 12: median 10, MAD 0.75, z 1.80
	// 10: median 10, MAD 0.5, z 0.00
	// 40: median 10, MAD 1, z 20.23
}

func BenchmarkMovingMedian(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 1<<16)
	for i := range x {
		x[i] = 100 + r.NormFloat64()
	}
	for _, w := range []int{15, 60, 288, 2016} {
		b.Run(strconv.Itoa(w), func(b *testing.B) {
			var m MovingMedian
			m.Init(w, w/2, nil)
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				m.Push(x[i&(len(x)-1)])
				i++
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkMovingZ is the pandas comparison's workload: many series, one
// value each in turn, window 60; "prefetch" calls Prefetch on the series
// four places ahead, as benchmarks/pandas does.
func BenchmarkMovingZ(b *testing.B) {
	const window = 60
	for _, series := range []int{1, 1000, 10000} {
		for _, ahead := range []int{0, 2, 4, 8} {
			name := strconv.Itoa(series) + "series"
			if ahead > 0 {
				name += "/prefetch" + strconv.Itoa(ahead)
			}
			b.Run(name, func(b *testing.B) {
				r := rand.New(rand.NewPCG(2, 2))
				x := make([]float64, 1<<16)
				for i := range x {
					x[i] = 100 + r.NormFloat64()
				}
				zs := make([]MovingZ, series)
				k := MovingZFloats(window)
				buf := make([]float64, series*k)
				for s := range zs {
					zs[s].Init(window, window/2, 1.4826, buf[s*k:(s+1)*k])
				}
				b.ReportAllocs()
				i, s, flagged := 0, 0, 0
				cpu0 := processCPU()
				for b.Loop() {
					if ahead > 0 {
						zs[(s+ahead)%series].Prefetch()
					}
					if v, _, _ := zs[s].Push(x[i&(len(x)-1)]); math.Abs(v) > 5 {
						flagged++
					}
					i++
					if s++; s == series {
						s = 0
					}
				}
				b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
				_ = flagged
			})
		}
	}
}

func TestLowerBound(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []int{1, 2, 4, 8, 16, 64} {
		for trial := range 2000 {
			n := r.IntN(p) // values; +Inf pads the rest
			a := make([]float64, p)
			for i := range a {
				a[i] = math.Inf(1)
			}
			for i := range n {
				a[i] = float64(r.IntN(8))
			}
			slices.Sort(a[:n])
			v := float64(r.IntN(10)) - 0.5*float64(trial%2)
			want, _ := slices.BinarySearch(a[:n], v)
			if got := lowerBound(a, v); got != want {
				t.Fatalf("lowerBound(%v, %v) = %d, want %d", a, v, got, want)
			}
		}
	}
}
