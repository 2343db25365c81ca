package dbscan

import (
	"math"
	"slices"
)

// grid is a uniform grid over up to MaxGridDim dimensions whose cell side
// is eps (plus a relative slack of 1e-6, so rounding cannot put two points
// within eps of each other more than one cell apart). Points are reordered
// by cell so a cell is a contiguous run of the copy; a map from packed cell
// coordinates to the run finds a cell in one lookup, and a query visits the
// 3^dim cells around the point's own.
//
// The cell coordinates of each axis are packed into bits = 64/dim bits of a
// uint64, offset by one so that the neighbours (coordinate ± 1) of every
// occupied cell are representable and a neighbour's key is the cell's key
// plus a precomputed delta. build refuses (returns false) when an axis spans
// more cells than its bits hold or more than 2^24, or when coordinates are
// so large compared with eps that the slack would not cover rounding.
type grid struct {
	dim    int
	eps2   float64
	inv    float64
	min    [MaxGridDim]float64
	pts    []float64 // reordered copy, dim per point
	ids    []int32   // sorted position -> original index
	pos    []int32   // original index -> sorted position
	keys   []uint64  // sorted position -> cell key
	cells  map[uint64]int32
	start  []int32 // cell number -> first sorted position; one extra at the end
	cellOf []int32 // sorted position -> cell number
	left   []int32 // cell number -> core points not labelled yet
	deltas []uint64
	order  []keyed
}

type keyed struct {
	key uint64
	idx int32
}

const maxCellsPerAxis = 1 << 24

func (g *grid) build(points []float64, dim int, eps float64) bool {
	n := len(points) / dim
	cell := eps * (1 + 1e-6)
	bits := uint(64 / dim)
	limit := float64(maxCellsPerAxis)
	if l := float64(uint64(1)<<bits - 2); l < limit {
		limit = l
	}
	var lo, hi [MaxGridDim]float64
	for d := range dim {
		lo[d], hi[d] = math.Inf(1), math.Inf(-1)
	}
	for i := 0; i < len(points); i += dim {
		for d := range dim {
			v := points[i+d]
			lo[d] = math.Min(lo[d], v)
			hi[d] = math.Max(hi[d], v)
		}
	}
	for d := range dim {
		if n == 0 {
			break
		}
		if (hi[d]-lo[d])/cell+2 > limit {
			return false
		}
		if math.Max(math.Abs(lo[d]), math.Abs(hi[d]))/cell > 1<<30 {
			return false
		}
	}
	g.dim, g.eps2, g.inv, g.min = dim, eps*eps, 1/cell, lo

	g.order = slices.Grow(g.order[:0], n)[:n]
	for i := range n {
		var key uint64
		for d := range dim {
			c := uint64((points[i*dim+d]-lo[d])*g.inv) + 1
			key |= c << (bits * uint(d))
		}
		g.order[i] = keyed{key, int32(i)}
	}
	slices.SortFunc(g.order, func(a, b keyed) int {
		if a.key != b.key {
			if a.key < b.key {
				return -1
			}
			return 1
		}
		return int(a.idx - b.idx)
	})

	g.pts = slices.Grow(g.pts[:0], len(points))[:len(points)]
	g.ids = slices.Grow(g.ids[:0], n)[:n]
	g.pos = slices.Grow(g.pos[:0], n)[:n]
	g.keys = slices.Grow(g.keys[:0], n)[:n]
	if g.cells == nil {
		g.cells = make(map[uint64]int32, n/2)
	} else {
		clear(g.cells)
	}
	g.start = g.start[:0]
	g.cellOf = slices.Grow(g.cellOf[:0], n)[:n]
	for p, o := range g.order {
		copy(g.pts[p*dim:(p+1)*dim], points[int(o.idx)*dim:(int(o.idx)+1)*dim])
		g.ids[p] = o.idx
		g.pos[o.idx] = int32(p)
		g.keys[p] = o.key
		if p == 0 || o.key != g.order[p-1].key {
			g.cells[o.key] = int32(len(g.start))
			g.start = append(g.start, int32(p))
		}
		g.cellOf[p] = int32(len(g.start) - 1)
	}
	g.start = append(g.start, int32(n))
	g.left = slices.Grow(g.left[:0], len(g.start)-1)[:len(g.start)-1]

	// Deltas to the 3^dim neighbouring keys, own cell first.
	g.deltas = append(g.deltas[:0], 0)
	for d := range dim {
		m := len(g.deltas)
		for _, base := range g.deltas[:m] {
			g.deltas = append(g.deltas, base+uint64(1)<<(bits*uint(d)), base-uint64(1)<<(bits*uint(d)))
		}
	}
	return true
}

func (g *grid) count(i, limit int) int {
	d := g.dim
	p := int(g.pos[i])
	q := g.pts[p*d : (p+1)*d]
	key := g.keys[p]
	c := 0
	for _, delta := range g.deltas {
		cn, ok := g.cells[key+delta]
		if !ok {
			continue
		}
		for s := int(g.start[cn]); s < int(g.start[cn+1]); s++ {
			if sqDist(q, g.pts[s*d:(s+1)*d]) <= g.eps2 {
				if c++; c >= limit {
					return c
				}
			}
		}
	}
	return c
}

func (g *grid) prepare(core []bool) {
	clear(g.left)
	for p, id := range g.ids {
		if core[id] {
			g.left[g.cellOf[p]]++
		}
	}
}

func (g *grid) claim(i int) { g.left[g.cellOf[g.pos[i]]]-- }

// expand skips the cells whose core points are all labelled already.
func (g *grid) expand(i, k int, labels []int, core []bool, q []int32) []int32 {
	d := g.dim
	p := int(g.pos[i])
	x := g.pts[p*d : (p+1)*d]
	key := g.keys[p]
	for _, delta := range g.deltas {
		cn, ok := g.cells[key+delta]
		if !ok || g.left[cn] == 0 {
			continue
		}
		for s := int(g.start[cn]); s < int(g.start[cn+1]); s++ {
			id := g.ids[s]
			if !core[id] || labels[id] != Noise || sqDist(x, g.pts[s*d:(s+1)*d]) > g.eps2 {
				continue
			}
			labels[id] = k
			g.left[cn]--
			q = append(q, id)
		}
	}
	return q
}

func (g *grid) lowest(i int, labels []int, core []bool) int {
	d := g.dim
	p := int(g.pos[i])
	x := g.pts[p*d : (p+1)*d]
	key := g.keys[p]
	best := Noise
	for _, delta := range g.deltas {
		cn, ok := g.cells[key+delta]
		if !ok {
			continue
		}
		for s := int(g.start[cn]); s < int(g.start[cn+1]); s++ {
			id := g.ids[s]
			if core[id] && (best == Noise || labels[id] < best) && sqDist(x, g.pts[s*d:(s+1)*d]) <= g.eps2 {
				best = labels[id]
			}
		}
	}
	return best
}
