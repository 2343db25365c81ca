package dbscan

import "math"

// kdtree is a kd-tree over a reordered copy of the points. Each node covers
// a contiguous range of the copy and stores the bounding box of its points;
// inner nodes split their range at the median of the axis of largest
// spread, so the tree is balanced and has about 2n/leafSize nodes. A range
// query prunes a node whose box lies farther than eps from the query point
// and takes a node whole when its box lies entirely within eps (the
// farthest corner is close enough), which makes counting in dense clusters
// cheap. No interfaces or per-point allocations: flat slices only.
type kdtree struct {
	dim    int
	eps2   float64
	pts    []float64 // reordered copy
	ids    []int32   // sorted position -> original index
	pos    []int32   // original index -> sorted position
	nodes  []kdnode
	box    []float64 // per node: dim minima then dim maxima
	leafOf []int32   // sorted position -> leaf node
	stack  []int32
}

type kdnode struct {
	lo, hi      int32 // range of the copy
	left, right int32 // children, -1 for a leaf
	parent      int32 // -1 for the root
	axis        int32 // split axis of an inner node
	split       float64
	todo        int32 // core points of the range not labelled yet
}

// leafSize returns the number of points under which a node becomes a leaf.
// Larger leaves in more dimensions: there, boxes prune poorly and scanning
// a leaf is cheaper than visiting more nodes (measured with BenchmarkRun:
// 64 beats 12 by 1.5x in 8 dimensions, 16 is best in 2).
func leafSize(dim int) int { return min(max(8*dim, 16), 64) }

func (t *kdtree) build(points []float64, dim int, eps float64) {
	n := len(points) / dim
	t.dim, t.eps2 = dim, eps*eps
	t.ids = grow32(t.ids, n)
	t.pos = grow32(t.pos, n)
	for i := range t.ids {
		t.ids[i] = int32(i)
	}
	t.nodes = t.nodes[:0]
	t.box = t.box[:0]
	if n > 0 {
		t.split(points, 0, n, -1)
	}
	if cap(t.pts) < len(points) {
		t.pts = make([]float64, len(points))
	}
	t.pts = t.pts[:len(points)]
	for p, id := range t.ids {
		copy(t.pts[p*dim:(p+1)*dim], points[int(id)*dim:(int(id)+1)*dim])
		t.pos[id] = int32(p)
	}
	t.leafOf = grow32(t.leafOf, n)
	for nd, node := range t.nodes {
		if node.left < 0 {
			for p := node.lo; p < node.hi; p++ {
				t.leafOf[p] = int32(nd)
			}
		}
	}
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// split adds the node for ids[lo:hi] and its subtree and returns its number.
func (t *kdtree) split(points []float64, lo, hi int, parent int32) int32 {
	d := t.dim
	me := int32(len(t.nodes))
	t.nodes = append(t.nodes, kdnode{lo: int32(lo), hi: int32(hi), left: -1, right: -1, parent: parent})
	b := len(t.box)
	for range d {
		t.box = append(t.box, math.Inf(1))
	}
	for range d {
		t.box = append(t.box, math.Inf(-1))
	}
	mins, maxs := t.box[b:b+d], t.box[b+d:b+2*d]
	for _, id := range t.ids[lo:hi] {
		p := points[int(id)*d : (int(id)+1)*d]
		for k, v := range p {
			if v < mins[k] {
				mins[k] = v
			}
			if v > maxs[k] {
				maxs[k] = v
			}
		}
	}
	if hi-lo <= leafSize(d) {
		return me
	}
	axis, spread := 0, -1.0
	for k := range d {
		if s := maxs[k] - mins[k]; s > spread {
			axis, spread = k, s
		}
	}
	if spread == 0 { // all points identical: a leaf, whatever its size
		return me
	}
	mid := (lo + hi) / 2
	t.selectNth(points, axis, lo, hi, mid)
	t.nodes[me].axis = int32(axis)
	t.nodes[me].split = points[int(t.ids[mid])*d+axis]
	l := t.split(points, lo, mid, me)
	r := t.split(points, mid, hi, me)
	t.nodes[me].left, t.nodes[me].right = l, r
	return me
}

// selectNth reorders ids[lo:hi] so that ids[k] holds the point whose
// coordinate on axis would be at position k after sorting, with no larger
// coordinate before it and no smaller one after (Hoare's quickselect with a
// median-of-three pivot; insertion sort for short ranges).
func (t *kdtree) selectNth(points []float64, axis, lo, hi, k int) {
	d := t.dim
	ids := t.ids
	key := func(i int) float64 { return points[int(ids[i])*d+axis] }
	for hi-lo > 16 {
		m := lo + (hi-lo)/2
		// median of three into position m
		if key(m) < key(lo) {
			ids[m], ids[lo] = ids[lo], ids[m]
		}
		if key(hi-1) < key(lo) {
			ids[hi-1], ids[lo] = ids[lo], ids[hi-1]
		}
		if key(hi-1) < key(m) {
			ids[hi-1], ids[m] = ids[m], ids[hi-1]
		}
		pivot := key(m)
		i, j := lo, hi-1
		for i <= j {
			for key(i) < pivot {
				i++
			}
			for key(j) > pivot {
				j--
			}
			if i <= j {
				ids[i], ids[j] = ids[j], ids[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j + 1
		case k >= i:
			lo = i
		default:
			return
		}
	}
	for i := lo + 1; i < hi; i++ {
		for j := i; j > lo && key(j) < key(j-1); j-- {
			ids[j], ids[j-1] = ids[j-1], ids[j]
		}
	}
}

// boxDist returns the squared distances from q to the nearest and to the
// farthest point of node nd's box.
func (t *kdtree) boxDist(q []float64, nd int) (near, far float64) {
	d := t.dim
	mins := t.box[nd*2*d : nd*2*d+d]
	maxs := t.box[nd*2*d+d : nd*2*d+2*d]
	for k, v := range q {
		lo, hi := mins[k], maxs[k]
		a, b := v-lo, hi-v // distances to the two faces (negative outside)
		switch {
		case a < 0:
			near += a * a
			far += b * b
		case b < 0:
			near += b * b
			far += a * a
		default:
			far += max(a*a, b*b)
		}
	}
	return near, far
}

func (t *kdtree) count(i, limit int) int {
	if len(t.nodes) == 0 {
		return 0
	}
	d := t.dim
	p := int(t.pos[i])
	q := t.pts[p*d : (p+1)*d]
	c := 0
	st := append(t.stack[:0], 0)
	for len(st) > 0 {
		nd := st[len(st)-1]
		st = st[:len(st)-1]
		near, far := t.boxDist(q, int(nd))
		if near > t.eps2 {
			continue
		}
		node := t.nodes[nd]
		if far <= t.eps2 {
			c += int(node.hi - node.lo)
		} else if node.left < 0 {
			for s := int(node.lo); s < int(node.hi); s++ {
				if sqDist(q, t.pts[s*d:(s+1)*d]) <= t.eps2 {
					c++
				}
			}
		} else {
			// the child on the query's side is popped first: it holds the
			// nearest points, so the count reaches limit sooner
			if q[node.axis] < node.split {
				st = append(st, node.right, node.left)
			} else {
				st = append(st, node.left, node.right)
			}
			continue
		}
		if c >= limit {
			break
		}
	}
	t.stack = st
	return c
}

func (t *kdtree) prepare(core []bool) {
	for nd := range t.nodes {
		t.nodes[nd].todo = 0
	}
	for p, id := range t.ids {
		if core[id] {
			for nd := t.leafOf[p]; nd >= 0; nd = t.nodes[nd].parent {
				t.nodes[nd].todo++
			}
		}
	}
}

func (t *kdtree) claim(i int) { t.claimPos(t.pos[i]) }

// claimPos decrements the count of unlabelled core points of the leaf
// holding sorted position p and of all its ancestors.
func (t *kdtree) claimPos(p int32) {
	for nd := t.leafOf[p]; nd >= 0; nd = t.nodes[nd].parent {
		t.nodes[nd].todo--
	}
}

// expand skips every node whose core points are all labelled already, so
// the repeated queries from the core points of a dense cluster cost little
// once their surroundings are labelled.
func (t *kdtree) expand(i, k int, labels []int, core []bool, q []int32) []int32 {
	if len(t.nodes) == 0 {
		return q
	}
	d := t.dim
	p := int(t.pos[i])
	x := t.pts[p*d : (p+1)*d]
	st := append(t.stack[:0], 0)
	for len(st) > 0 {
		nd := st[len(st)-1]
		st = st[:len(st)-1]
		node := &t.nodes[nd]
		if node.todo == 0 {
			continue
		}
		near, far := t.boxDist(x, int(nd))
		if near > t.eps2 {
			continue
		}
		inside := far <= t.eps2
		if node.left >= 0 && (!inside || node.todo < node.hi-node.lo) {
			// partly outside the ball, or partly labelled: look closer
			st = append(st, node.right, node.left)
			continue
		}
		for s := node.lo; s < node.hi; s++ {
			id := t.ids[s]
			if !core[id] || labels[id] != Noise || !inside && sqDist(x, t.pts[int(s)*d:(int(s)+1)*d]) > t.eps2 {
				continue
			}
			labels[id] = k
			t.claimPos(s)
			q = append(q, id)
		}
	}
	t.stack = st
	return q
}

func (t *kdtree) lowest(i int, labels []int, core []bool) int {
	best := Noise
	if len(t.nodes) == 0 {
		return best
	}
	d := t.dim
	p := int(t.pos[i])
	x := t.pts[p*d : (p+1)*d]
	st := append(t.stack[:0], 0)
	for len(st) > 0 {
		nd := st[len(st)-1]
		st = st[:len(st)-1]
		node := &t.nodes[nd]
		near, far := t.boxDist(x, int(nd))
		if near > t.eps2 {
			continue
		}
		if node.left >= 0 {
			st = append(st, node.right, node.left)
			continue
		}
		inside := far <= t.eps2
		for s := node.lo; s < node.hi; s++ {
			id := t.ids[s]
			if core[id] && (best == Noise || labels[id] < best) && (inside || sqDist(x, t.pts[int(s)*d:(int(s)+1)*d]) <= t.eps2) {
				best = labels[id]
			}
		}
	}
	t.stack = st
	return best
}
