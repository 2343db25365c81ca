package dbscan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"testing"
)

// benchStream is splitmix64 (Steele, Lea and Flood 2014): the k-th draw is
// mix(seed + k*gamma). testdata/bench_sklearn.py implements the same stream
// and the same recipe with numpy, using only additions and multiplications
// so both produce bit-identical points.
type benchStream struct{ state uint64 }

func (s *benchStream) uniform() float64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11) * (1.0 / (1 << 53))
}

// Bench data recipe (keep in step with bench_sklearn.py).
const (
	benchSeed     = 20260105
	benchCentres  = 20
	benchSide     = 100.0
	benchNoise    = 0.1
	benchMinPts   = 10
	sqrt3         = 1.7320508075688772
	benchEps2D    = 0.3
	benchEps8D    = 2.4
	benchQuadSize = 10_000
)

// benchPoints returns n points in dim dimensions: benchCentres centres
// uniform in [0, benchSide)^dim; each point is, with probability
// benchNoise, uniform in the same cube, otherwise a centre plus unit-variance
// noise (the sum of four uniforms, centred and scaled: Irwin-Hall, close to
// Gaussian). Every point consumes exactly 2 + 4*dim draws.
func benchPoints(n, dim int) []float64 {
	s := benchStream{state: benchSeed}
	centres := make([]float64, benchCentres*dim)
	for i := range centres {
		centres[i] = s.uniform() * benchSide
	}
	p := make([]float64, n*dim)
	for i := range n {
		noise := s.uniform() < benchNoise
		c := int(s.uniform() * benchCentres)
		for d := range dim {
			u1, u2, u3, u4 := s.uniform(), s.uniform(), s.uniform(), s.uniform()
			if noise {
				p[i*dim+d] = u1 * benchSide
			} else {
				p[i*dim+d] = centres[c*dim+d] + (u1+u2+u3+u4-2)*sqrt3
			}
		}
	}
	return p
}

func benchEps(dim int) float64 {
	if dim == 2 {
		return benchEps2D
	}
	return benchEps8D
}

// BenchmarkRun: DBSCAN on the shared bench points (100,000 in 2 and 8
// dimensions) with each index; the quadratic reference at 10,000 points.
// Each run reports the clusters and noise points found, to compare with
// testdata/bench_sklearn.py on the same points.
func BenchmarkRun(b *testing.B) {
	for _, dim := range []int{2, 8} {
		eps := benchEps(dim)
		for _, n := range []int{benchQuadSize, 100_000} {
			pts := benchPoints(n, dim)
			idxs := []Index{Grid, KDTree}
			if dim > MaxGridDim {
				idxs = []Index{KDTree}
			}
			for _, idx := range idxs {
				b.Run(fmt.Sprintf("dim=%d/n=%d/%v", dim, n, idx), func(b *testing.B) {
					b.ReportAllocs()
					var c Clusterer
					var r Result
					for b.Loop() {
						if err := c.Run(&r, pts, dim, eps, benchMinPts, idx); err != nil {
							b.Fatal(err)
						}
					}
					report(b, r)
				})
			}
			if n <= benchQuadSize {
				b.Run(fmt.Sprintf("dim=%d/n=%d/quadratic", dim, n), func(b *testing.B) {
					b.ReportAllocs()
					var r Result
					for b.Loop() {
						var err error
						if r, err = Quadratic(pts, dim, eps, benchMinPts); err != nil {
							b.Fatal(err)
						}
					}
					report(b, r)
				})
			}
		}
	}
}

func report(b *testing.B, r Result) {
	noise := 0
	for _, l := range r.Labels {
		if l == Noise {
			noise++
		}
	}
	b.ReportMetric(float64(r.Clusters), "clusters")
	b.ReportMetric(float64(noise), "noise")
}

// BenchmarkMatrix is the peer-group shape: 100 members, 30-point windows,
// distance matrix, k-distances, AutoEps and DBSCAN.
func BenchmarkMatrix(b *testing.B) {
	const n, dim = 100, 30
	pts := benchPoints(n, dim)
	dist := make([]float64, n*n)
	var kd []float64
	work := make([]float64, n)
	var c Clusterer
	var r Result
	b.ReportAllocs()
	for b.Loop() {
		for i := range n {
			for j := range i {
				d := math.Sqrt(sqDist(pts[i*dim:(i+1)*dim], pts[j*dim:(j+1)*dim]))
				dist[i*n+j], dist[j*n+i] = d, d
			}
		}
		kd = KDistancesMatrix(kd, dist, n, 5, work)
		eps := AutoEps(kd, 3, work)
		if err := c.RunMatrix(&r, dist, n, eps, 5); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchPointsMatchPython pins the bench recipe to the digests
// testdata/bench_sklearn.py prints (points_sha256), so the two time the
// same points.
func TestBenchPointsMatchPython(t *testing.T) {
	for _, c := range []struct {
		n, dim int
		want   string
	}{
		{benchQuadSize, 2, "3dee3b19190ea787"}, {benchQuadSize, 8, "8e22f61c697cc95f"},
		{100_000, 2, "3db6fd328a0b1151"}, {100_000, 8, "c9b4d2900d52cbf8"},
	} {
		pts := benchPoints(c.n, c.dim)
		buf := make([]byte, 0, 8*len(pts))
		for _, v := range pts {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(v))
		}
		sum := sha256.Sum256(buf)
		if got := hex.EncodeToString(sum[:])[:16]; got != c.want {
			t.Errorf("sha256(benchPoints(%d, %d)) = %s, want %s (as bench_sklearn.py prints)", c.n, c.dim, got, c.want)
		}
	}
}
