package dbscan

import (
	"errors"
	"fmt"
	"math"
)

// Noise is the label of a point that belongs to no cluster.
const Noise = -1

// ErrInvalid is wrapped by every error about the arguments.
var ErrInvalid = errors.New("dbscan: invalid argument")

// Index selects how Run answers range queries.
type Index uint8

const (
	// Auto uses Grid in up to 3 dimensions and KDTree above.
	Auto Index = iota
	// Grid is a uniform grid with cell side eps, hashed by cell. It serves up
	// to 4 dimensions; when the points span more cells per axis than the
	// cell key can hold (eps tiny compared with the spread), Run falls back
	// to KDTree.
	Grid
	// KDTree is a kd-tree with bounding boxes over a reordered copy of the
	// points.
	KDTree
	// Brute compares every pair: O(n²) distance computations.
	Brute
)

func (x Index) String() string {
	switch x {
	case Auto:
		return "auto"
	case Grid:
		return "grid"
	case KDTree:
		return "kdtree"
	case Brute:
		return "brute"
	}
	return fmt.Sprintf("index(%d)", uint8(x))
}

// MaxGridDim is the largest dimension Grid accepts.
const MaxGridDim = 4

// Result is the outcome of one run. Labels[i] is the cluster of point i in
// 0..Clusters-1 or Noise; Core[i] reports whether point i is a core point.
// A point with Core[i] false and Labels[i] >= 0 is a border point.
type Result struct {
	Labels   []int
	Core     []bool
	Clusters int
}

// Sizes appends to dst the number of points of each cluster, indexed by
// label, and returns it.
func (r *Result) Sizes(dst []int) []int {
	dst = dst[:0]
	for range r.Clusters {
		dst = append(dst, 0)
	}
	for _, l := range r.Labels {
		if l >= 0 {
			dst[l]++
		}
	}
	return dst
}

// searcher answers the queries DBSCAN needs about point i of the indexed
// set.
type searcher interface {
	// count returns the number of points within eps of point i, i included,
	// or any number >= limit once it has seen limit of them.
	count(i, limit int) int
	// prepare is called once the core points are known and before any
	// claim or expand.
	prepare(core []bool)
	// claim records that core point i has just been labelled outside expand.
	claim(i int)
	// expand gives label k to every still unlabelled core point within eps
	// of point i, claims it and appends it to q. An index may skip regions
	// whose core points are all labelled already.
	expand(i, k int, labels []int, core []bool, q []int32) []int32
	// lowest returns the lowest label among the core points within eps of
	// point i, or Noise when there are none.
	lowest(i int, labels []int, core []bool) int
}

// Clusterer runs DBSCAN and keeps its scratch memory (indexes, queues)
// between runs. The zero value is ready to use. It is not safe for
// concurrent use.
type Clusterer struct {
	grid  grid
	tree  kdtree
	brute brute
	mat   matrix
	queue []int32
}

// Run clusters the n = len(points)/dim points stored row-major in points
// (point i is points[i*dim : (i+1)*dim]) with the given eps and minPts and
// writes the outcome to dst, reusing dst's slices when they are large
// enough. points is not modified. The labels follow the package's
// deterministic rule whatever the index.
//
// It returns an error wrapping ErrInvalid when dim < 1, len(points) is not a
// multiple of dim, eps is not a finite number > 0, minPts < 1, or a
// coordinate is NaN or infinite.
func (c *Clusterer) Run(dst *Result, points []float64, dim int, eps float64, minPts int, idx Index) error {
	if err := check(points, dim, eps, minPts); err != nil {
		return err
	}
	n := len(points) / dim
	var s searcher
	switch idx {
	case Auto, Grid:
		if idx == Auto && dim > 3 || dim > MaxGridDim || !c.grid.build(points, dim, eps) {
			c.tree.build(points, dim, eps)
			s = &c.tree
		} else {
			s = &c.grid
		}
	case KDTree:
		c.tree.build(points, dim, eps)
		s = &c.tree
	case Brute:
		c.brute = brute{pts: points, dim: dim, eps2: eps * eps}
		s = &c.brute
	default:
		return fmt.Errorf("%w: unknown index %d", ErrInvalid, idx)
	}
	c.cluster(dst, s, n, minPts)
	return nil
}

// RunMatrix clusters n points given by their distance matrix: dist[i*n+j]
// is the distance between points i and j (any metric; the matrix is read as
// given, so it should be symmetric with a zero diagonal). The rest is as in
// Run.
func (c *Clusterer) RunMatrix(dst *Result, dist []float64, n int, eps float64, minPts int) error {
	if n < 0 || len(dist) != n*n {
		return fmt.Errorf("%w: distance matrix has %d entries, want %d×%d", ErrInvalid, len(dist), n, n)
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("%w: eps %v is not a finite number > 0", ErrInvalid, eps)
	}
	if minPts < 1 {
		return fmt.Errorf("%w: minPts %d < 1", ErrInvalid, minPts)
	}
	c.mat = matrix{dist: dist, n: n, eps: eps}
	c.cluster(dst, &c.mat, n, minPts)
	return nil
}

// Run is Clusterer.Run with a fresh Clusterer and result and the Auto index.
func Run(points []float64, dim int, eps float64, minPts int) (Result, error) {
	var c Clusterer
	var r Result
	err := c.Run(&r, points, dim, eps, minPts, Auto)
	return r, err
}

func check(points []float64, dim int, eps float64, minPts int) error {
	if dim < 1 {
		return fmt.Errorf("%w: dimension %d < 1", ErrInvalid, dim)
	}
	if len(points)%dim != 0 {
		return fmt.Errorf("%w: %d coordinates are not a multiple of dimension %d", ErrInvalid, len(points), dim)
	}
	if !(eps > 0) || math.IsInf(eps, 0) {
		return fmt.Errorf("%w: eps %v is not a finite number > 0", ErrInvalid, eps)
	}
	if minPts < 1 {
		return fmt.Errorf("%w: minPts %d < 1", ErrInvalid, minPts)
	}
	for i, v := range points {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: point %d coordinate %d is %v", ErrInvalid, i/dim, i%dim, v)
		}
	}
	return nil
}

func (r *Result) reset(n int) {
	if cap(r.Labels) < n {
		r.Labels = make([]int, n)
	}
	if cap(r.Core) < n {
		r.Core = make([]bool, n)
	}
	r.Labels = r.Labels[:n]
	r.Core = r.Core[:n]
	r.Clusters = 0
}

// cluster finds the core points with counting queries, then labels the
// connected components of the core points, breadth first from each
// unlabelled core point in index order, and finally gives each non-core
// point the lowest label among its core neighbours (Noise when it has
// none). That is the package's labelling rule, computed so that the
// expansion only ever looks for core points: an index can then skip regions
// whose core points are all labelled, which noise points would otherwise
// keep open.
func (c *Clusterer) cluster(dst *Result, s searcher, n, minPts int) {
	dst.reset(n)
	for i := range n {
		dst.Labels[i] = Noise
		dst.Core[i] = minPts <= 1 || s.count(i, minPts) >= minPts
	}
	s.prepare(dst.Core)
	for i := range n {
		if !dst.Core[i] || dst.Labels[i] != Noise {
			continue
		}
		k := dst.Clusters
		dst.Clusters++
		dst.Labels[i] = k
		s.claim(i)
		q := append(c.queue[:0], int32(i))
		for h := 0; h < len(q); h++ {
			q = s.expand(int(q[h]), k, dst.Labels, dst.Core, q)
		}
		c.queue = q
	}
	if dst.Clusters == 0 {
		return
	}
	for i := range n {
		if !dst.Core[i] {
			dst.Labels[i] = s.lowest(i, dst.Labels, dst.Core)
		}
	}
}

// Quadratic is the textbook algorithm, kept as the reference: it computes
// every pairwise distance, stores each point's neighbourhood and expands
// clusters in index order. It allocates O(n + sum of neighbourhood sizes)
// and takes O(n² dim) time. Its arguments and labels are as in Run.
func Quadratic(points []float64, dim int, eps float64, minPts int) (Result, error) {
	if err := check(points, dim, eps, minPts); err != nil {
		return Result{}, err
	}
	n := len(points) / dim
	eps2 := eps * eps
	nbr := make([][]int, n)
	for i := range n {
		for j := range n {
			if sqDist(points[i*dim:(i+1)*dim], points[j*dim:(j+1)*dim]) <= eps2 {
				nbr[i] = append(nbr[i], j)
			}
		}
	}
	var r Result
	r.reset(n)
	for i := range n {
		r.Labels[i] = Noise
		r.Core[i] = len(nbr[i]) >= minPts
	}
	for i := range n {
		if !r.Core[i] || r.Labels[i] != Noise {
			continue
		}
		k := r.Clusters
		r.Clusters++
		r.Labels[i] = k
		stack := []int{i}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, q := range nbr[p] {
				if r.Labels[q] == Noise {
					r.Labels[q] = k
					if r.Core[q] {
						stack = append(stack, q)
					}
				}
			}
		}
	}
	return r, nil
}

// sqDist is the squared Euclidean distance between a and b (same length).
func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	i := 0
	for ; i+1 < len(a); i += 2 {
		d0 := a[i] - b[i]
		d1 := a[i+1] - b[i+1]
		s0 += d0 * d0
		s1 += d1 * d1
	}
	if i < len(a) {
		d := a[i] - b[i]
		s0 += d * d
	}
	return s0 + s1
}

// brute answers queries by scanning every point.
type brute struct {
	pts  []float64
	dim  int
	eps2 float64
}

func (b *brute) count(i, limit int) int {
	d := b.dim
	p := b.pts[i*d : (i+1)*d]
	c := 0
	for j := 0; j+d <= len(b.pts); j += d {
		if sqDist(p, b.pts[j:j+d]) <= b.eps2 {
			if c++; c >= limit {
				return c
			}
		}
	}
	return c
}

func (b *brute) prepare([]bool) {}
func (b *brute) claim(int)      {}

func (b *brute) expand(i, k int, labels []int, core []bool, q []int32) []int32 {
	d := b.dim
	p := b.pts[i*d : (i+1)*d]
	for j, l := range labels {
		if l == Noise && core[j] && sqDist(p, b.pts[j*d:(j+1)*d]) <= b.eps2 {
			labels[j] = k
			q = append(q, int32(j))
		}
	}
	return q
}

func (b *brute) lowest(i int, labels []int, core []bool) int {
	d := b.dim
	p := b.pts[i*d : (i+1)*d]
	best := Noise
	for j, l := range labels {
		if core[j] && (best == Noise || l < best) && sqDist(p, b.pts[j*d:(j+1)*d]) <= b.eps2 {
			best = l
		}
	}
	return best
}

// matrix answers queries from a precomputed distance matrix.
type matrix struct {
	dist []float64
	n    int
	eps  float64
}

func (m *matrix) count(i, limit int) int {
	c := 0
	for _, d := range m.dist[i*m.n : (i+1)*m.n] {
		if d <= m.eps {
			if c++; c >= limit {
				return c
			}
		}
	}
	return c
}

func (m *matrix) prepare([]bool) {}
func (m *matrix) claim(int)      {}

func (m *matrix) expand(i, k int, labels []int, core []bool, q []int32) []int32 {
	for j, d := range m.dist[i*m.n : (i+1)*m.n] {
		if d <= m.eps && core[j] && labels[j] == Noise {
			labels[j] = k
			q = append(q, int32(j))
		}
	}
	return q
}

func (m *matrix) lowest(i int, labels []int, core []bool) int {
	best := Noise
	for j, d := range m.dist[i*m.n : (i+1)*m.n] {
		if d <= m.eps && core[j] && (best == Noise || labels[j] < best) {
			best = labels[j]
		}
	}
	return best
}
