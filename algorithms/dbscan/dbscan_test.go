package dbscan

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRunSmall(t *testing.T) {
	cases := []struct {
		name   string
		pts    []float64 // 1-D
		eps    float64
		minPts int
		labels []int
		core   []bool
	}{
		{"empty", nil, 1, 2, []int{}, []bool{}},
		{"single core with minPts 1", []float64{5}, 1, 1, []int{0}, []bool{true}},
		{"single noise", []float64{5}, 1, 2, []int{-1}, []bool{false}},
		// 0,1,2 are core (3 points within 1 for 1; 0 and 2 have 2 — minPts 2)
		{"chain", []float64{0, 1, 2, 10}, 1, 2, []int{0, 0, 0, -1}, []bool{true, true, true, false}},
		// border: 1 has neighbours 0,1,2 => core; 0 and 2 have 2 < 3 => border
		{"border", []float64{0, 1, 2}, 1, 3, []int{0, 0, 0}, []bool{false, true, false}},
		// distance exactly eps counts
		{"tie at eps", []float64{0, 0.5}, 0.5, 2, []int{0, 0}, []bool{true, true}},
		// Two clusters numbered by their first core point (3.8 opens
		// cluster 0); 5 is within eps of core points of both and is not
		// core itself: the lowest cluster wins.
		{"border to lowest cluster", []float64{3.8, 6.2, 6, 4, 6.4, 5, 6.6, 3.6, 3.4}, 1, 4,
			[]int{0, 1, 1, 0, 1, 0, 1, 0, 0}, []bool{true, true, true, true, true, false, true, true, true}},
		{"duplicates count", []float64{1, 1, 1, 9}, 0.1, 3, []int{0, 0, 0, -1}, []bool{true, true, true, false}},
	}
	for _, c := range cases {
		for _, idx := range []Index{Auto, Grid, KDTree, Brute} {
			var cl Clusterer
			var r Result
			if err := cl.Run(&r, c.pts, 1, c.eps, c.minPts, idx); err != nil {
				t.Fatalf("%s/%v: %v", c.name, idx, err)
			}
			if !slices.Equal(r.Labels, c.labels) || !slices.Equal(r.Core, c.core) {
				t.Errorf("Run(%s, %v) = labels %v core %v, want %v %v", c.name, idx, r.Labels, r.Core, c.labels, c.core)
			}
		}
		q, err := Quadratic(c.pts, 1, c.eps, c.minPts)
		if err != nil || !slices.Equal(q.Labels, c.labels) {
			t.Errorf("Quadratic(%s) = %v, %v, want %v", c.name, q.Labels, err, c.labels)
		}
	}
}

func TestRunInvalid(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name   string
		pts    []float64
		dim    int
		eps    float64
		minPts int
	}{
		{"dim 0", []float64{1}, 0, 1, 1},
		{"ragged", []float64{1, 2, 3}, 2, 1, 1},
		{"eps 0", []float64{1}, 1, 0, 1},
		{"eps NaN", []float64{1}, 1, nan, 1},
		{"eps Inf", []float64{1}, 1, math.Inf(1), 1},
		{"minPts 0", []float64{1}, 1, 1, 0},
		{"NaN point", []float64{1, nan}, 1, 1, 1},
	}
	for _, c := range cases {
		var cl Clusterer
		var r Result
		if err := cl.Run(&r, c.pts, c.dim, c.eps, c.minPts, Auto); !errors.Is(err, ErrInvalid) {
			t.Errorf("Run(%s) error = %v, want ErrInvalid", c.name, err)
		}
		if _, err := Quadratic(c.pts, c.dim, c.eps, c.minPts); !errors.Is(err, ErrInvalid) {
			t.Errorf("Quadratic(%s) error = %v, want ErrInvalid", c.name, err)
		}
	}
	var cl Clusterer
	var r Result
	if err := cl.RunMatrix(&r, []float64{0, 1, 1}, 2, 1, 1); !errors.Is(err, ErrInvalid) {
		t.Errorf("RunMatrix(3 entries for n=2) error = %v, want ErrInvalid", err)
	}
}

// randomPoints makes clustered points with duplicates and outliers.
func randomPoints(r *rand.Rand, n, dim int) []float64 {
	centres := make([]float64, 5*dim)
	for i := range centres {
		centres[i] = r.Float64() * 20
	}
	p := make([]float64, 0, n*dim)
	for i := range n {
		switch {
		case i > 0 && r.IntN(10) == 0: // duplicate of an earlier point
			j := r.IntN(i)
			p = append(p, p[j*dim:(j+1)*dim]...)
		case r.IntN(8) == 0: // background noise
			for range dim {
				p = append(p, r.Float64()*25-2)
			}
		default:
			c := r.IntN(5)
			for d := range dim {
				p = append(p, centres[c*dim+d]+r.NormFloat64())
			}
		}
	}
	return p
}

// TestIndexesAgreeWithQuadratic cross-checks every index against the
// reference on random data in 1 to 9 dimensions.
func TestIndexesAgreeWithQuadratic(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var cl Clusterer // reused on purpose: scratch from a previous run must not leak
	var res Result
	for trial := range 60 {
		dim := 1 + trial%9
		n := 50 + r.IntN(400)
		pts := randomPoints(r, n, dim)
		eps := 0.3 + r.Float64()*float64(dim)*0.6
		minPts := 1 + r.IntN(10)
		want, err := Quadratic(pts, dim, eps, minPts)
		if err != nil {
			t.Fatal(err)
		}
		for _, idx := range []Index{Auto, Grid, KDTree, Brute} {
			if err := cl.Run(&res, pts, dim, eps, minPts, idx); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Labels, want.Labels) || !slices.Equal(res.Core, want.Core) || res.Clusters != want.Clusters {
				t.Errorf("trial %d (n=%d dim=%d eps=%.3f minPts=%d) %v: labels differ from Quadratic at %d",
					trial, n, dim, eps, minPts, idx, firstDiff(res.Labels, want.Labels))
			}
		}
		// The matrix form gives the same answer.
		dist := make([]float64, n*n)
		for i := range n {
			for j := range n {
				dist[i*n+j] = math.Sqrt(sqDist(pts[i*dim:(i+1)*dim], pts[j*dim:(j+1)*dim]))
			}
		}
		if err := cl.RunMatrix(&res, dist, n, eps, minPts); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Labels, want.Labels) {
			t.Errorf("trial %d RunMatrix: labels differ from Quadratic at %d", trial, firstDiff(res.Labels, want.Labels))
		}
	}
}

// TestGridFallback: an eps far too small for the spread makes the grid
// refuse; Run must still answer (through the kd-tree).
func TestGridFallback(t *testing.T) {
	pts := []float64{0, 0, 1e-9, 0, 1e9, 1e9}
	var g grid
	if g.build(pts, 2, 1e-6) {
		t.Fatalf("grid.build accepted %v cells per axis", 1e9/1e-6)
	}
	var cl Clusterer
	var r Result
	if err := cl.Run(&r, pts, 2, 1e-6, 2, Grid); err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 0, -1}; !slices.Equal(r.Labels, want) {
		t.Errorf("Run(Grid, fallback) = %v, want %v", r.Labels, want)
	}
}

func TestSizes(t *testing.T) {
	r := Result{Labels: []int{0, 1, -1, 1, 1, 0}, Clusters: 2}
	if got := r.Sizes(nil); !slices.Equal(got, []int{2, 3}) {
		t.Errorf("Sizes = %v, want [2 3]", got)
	}
}

func TestKDistances(t *testing.T) {
	pts := []float64{0, 1, 3, 10} // 1-D
	cases := []struct {
		k    int
		want []float64
	}{
		{1, []float64{0, 0, 0, 0}},
		{2, []float64{1, 1, 2, 7}},
		{3, []float64{3, 2, 3, 9}},
		{9, []float64{10, 9, 7, 10}}, // k > n: the farthest
	}
	for _, c := range cases {
		got := KDistances(nil, pts, 1, c.k, nil)
		if !slices.Equal(got, c.want) {
			t.Errorf("KDistances(k=%d) = %v, want %v", c.k, got, c.want)
		}
		n := len(pts)
		dist := make([]float64, n*n)
		for i := range n {
			for j := range n {
				dist[i*n+j] = math.Abs(pts[i] - pts[j])
			}
		}
		if got := KDistancesMatrix(nil, dist, n, c.k, nil); !slices.Equal(got, c.want) {
			t.Errorf("KDistancesMatrix(k=%d) = %v, want %v", c.k, got, c.want)
		}
	}
	// large k uses the sort path
	r := rand.New(rand.NewPCG(3, 4))
	p := make([]float64, 40)
	for i := range p {
		p[i] = r.Float64()
	}
	for _, k := range []int{5, 9, 20} {
		got := KDistances(nil, p, 1, k, nil)
		for i := range p {
			d := make([]float64, len(p))
			for j := range p {
				d[j] = math.Abs(p[i] - p[j])
			}
			slices.Sort(d)
			if got[i] != d[k-1] {
				t.Fatalf("KDistances(k=%d)[%d] = %v, want %v", k, i, got[i], d[k-1])
			}
		}
	}
}

func TestAutoEps(t *testing.T) {
	cases := []struct {
		kd   []float64
		tol  float64
		want float64
	}{
		{nil, 3, 0},
		{[]float64{1}, 3, 3},
		{[]float64{1, 2, 100}, 2, 4},
		{[]float64{1, 2, 3, 100}, 0, DefaultTolerance * 2.5},
	}
	for _, c := range cases {
		in := slices.Clone(c.kd)
		if got := AutoEps(c.kd, c.tol, nil); got != c.want {
			t.Errorf("AutoEps(%v, %v) = %v, want %v", c.kd, c.tol, got, c.want)
		}
		if !slices.Equal(in, c.kd) {
			t.Errorf("AutoEps modified its input %v to %v", in, c.kd)
		}
	}
}

// ExampleRun clusters six 2-D points: two tight groups and a loner.
func ExampleRun() {
	pts := []float64{
		0, 0, 0.1, 0, 0, 0.1, // group near the origin
		5, 5, 5.1, 5, // a pair
		9, 0, // alone
	}
	r, err := Run(pts, 2, 0.5, 2)
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Labels, r.Clusters)
	// Output: [0 0 0 1 1 -1] 2
}
