package dbscan

import (
	"math"
	"slices"
)

// DefaultTolerance is the tolerance AutoEps uses when given 0.
const DefaultTolerance = 3

// KDistances writes to dst[i] the k-distance of point i: the distance to
// the k-th nearest point counting point i itself as the first (so k = 1
// gives 0, and with k = minPts, point i is a core point exactly when
// dst[i] <= eps). When k > n the farthest point is used. It returns dst,
// resliced or allocated to n. work is scratch for n values (nil allocates).
// Brute force: O(n² dim), meant for groups of up to a few thousand points.
func KDistances(dst, points []float64, dim, k int, work []float64) []float64 {
	n := len(points) / dim
	dst = growF(dst, n)
	work = growF(work, n)
	for i := range n {
		p := points[i*dim : (i+1)*dim]
		for j := range n {
			work[j] = sqDist(p, points[j*dim:(j+1)*dim])
		}
		dst[i] = math.Sqrt(kth(work, k))
	}
	return dst
}

// KDistancesMatrix is KDistances over a distance matrix (dist[i*n+j]).
func KDistancesMatrix(dst, dist []float64, n, k int, work []float64) []float64 {
	dst = growF(dst, n)
	work = growF(work, n)
	for i := range n {
		copy(work, dist[i*n:(i+1)*n])
		dst[i] = kth(work, k)
	}
	return dst
}

// kth returns the k-th smallest of w (1-based, clamped to [1, len(w)]); it
// reorders w.
func kth(w []float64, k int) float64 {
	k = min(max(k, 1), len(w))
	if k <= 8 { // a partial insertion sort beats selection for small k
		for i := 0; i < len(w); i++ {
			v := w[i]
			if i >= k && v >= w[k-1] {
				continue
			}
			j := min(i, k-1)
			for ; j > 0 && w[j-1] > v; j-- {
				w[j] = w[j-1]
			}
			w[j] = v
		}
		return w[k-1]
	}
	slices.Sort(w)
	return w[k-1]
}

// AutoEps returns the eps DBSCAN uses when the caller gives none:
//
//	eps = tolerance × median_i kdist_i
//
// where kdist holds the k-distances of the points for k = minPts (see
// KDistances) and tolerance 0 means DefaultTolerance. kdist is not
// modified; work is scratch for len(kdist) values. It returns 0 for no
// points; the caller must then choose a floor (DBSCAN wants eps > 0).
//
// Why this rule: the k-distance of a point is the radius it needs to be a
// core point, so it measures the density around it. The median k-distance
// is the density of the typical member and ignores up to half of the
// points being outliers; eps = tolerance times it makes at least half of
// the points core, joins points whose neighbourhoods are up to tolerance
// times sparser than typical, and leaves as noise those that are farther.
// The classic alternative, the knee of the sorted k-distance curve, needs
// many points to locate the knee and jumps about for the groups of 3 to 100
// members that peer detection sees; on clean data the two agree, since the
// knee is where k-distances leave their typical level.
func AutoEps(kdist []float64, tolerance float64, work []float64) float64 {
	if len(kdist) == 0 {
		return 0
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	work = growF(work, len(kdist))
	copy(work, kdist)
	slices.Sort(work)
	n := len(work)
	med := work[n/2]
	if n%2 == 0 {
		med = (work[n/2-1] + work[n/2]) / 2
	}
	return tolerance * med
}

func growF(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
