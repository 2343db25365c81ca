package seasonal

import (
	"fmt"
	"math"
	"slices"

	"github.com/anomalyd/detector/algorithms/robust"
)

// Grid is a series placed on equally spaced slots. Slot k stands for the
// timestamp Start + k·Step.
type Grid struct {
	Start, Step int64
	// Values[k] is the median of the points of slot k, or a linear
	// interpolation between its nearest occupied neighbours when it has none.
	Values []float64
	// Slot[i] is the slot of the i-th input point.
	Slot []int
	// Filled is the number of slots that no point occupies.
	Filled int
}

// Len returns the number of slots.
func (g *Grid) Len() int { return len(g.Values) }

// Regularize places the points (ts[i], vals[i]) on a grid and stores it in
// g, reusing g's slices. ts must be in ascending order (equal timestamps
// allowed) and in any unit; vals must be finite.
//
// The step is the median of the positive differences between consecutive
// timestamps, so a few gaps or jittered points do not change it; each point
// goes to the nearest slot, round((ts[i] - ts[0]) / step). maxSlots bounds
// the grid (0 means 16·len(ts)): a series whose timestamps span too many
// steps, such as two bursts far apart, is refused with an error rather than
// filled with interpolated values. Fewer than two distinct timestamps is an
// error too. work is scratch for up to len(ts) values.
func Regularize(g *Grid, ts []int64, vals []float64, maxSlots int, work []float64) error {
	n := len(ts)
	if n != len(vals) {
		return fmt.Errorf("seasonal: %d timestamps for %d values", n, len(vals))
	}
	work = slices.Grow(work[:0], n)
	for i := 1; i < n; i++ {
		d := ts[i] - ts[i-1]
		if d < 0 {
			return fmt.Errorf("seasonal: timestamps not in ascending order at index %d", i)
		}
		if d > 0 {
			work = append(work, float64(d))
		}
	}
	if len(work) == 0 {
		return fmt.Errorf("seasonal: need at least 2 distinct timestamps, got %d", min(n, 1))
	}
	step := int64(math.Round(robust.Median(work, work)))
	// The median of ≥ 1 positive integers is at least 0.5; keep it positive.
	step = max(step, 1)
	slots := slotOf(ts[n-1], ts[0], step) + 1
	if maxSlots <= 0 {
		maxSlots = 16 * n
	}
	if slots > maxSlots {
		return fmt.Errorf("seasonal: timestamps span %d steps of %d, more than the limit of %d slots", slots, step, maxSlots)
	}
	g.Start, g.Step, g.Filled = ts[0], step, 0
	g.Values = slices.Grow(g.Values[:0], slots)[:slots]
	g.Slot = slices.Grow(g.Slot[:0], n)[:n]
	for i := range g.Values {
		g.Values[i] = math.NaN()
	}
	// Points of one slot are consecutive because ts is sorted.
	for i := 0; i < n; {
		k := slotOf(ts[i], ts[0], step)
		j := i + 1
		for j < n && slotOf(ts[j], ts[0], step) == k {
			j++
		}
		for p := i; p < j; p++ {
			g.Slot[p] = k
		}
		if j-i == 1 {
			g.Values[k] = vals[i]
		} else {
			g.Values[k] = robust.Median(vals[i:j], work)
		}
		i = j
	}
	// Interpolate the empty slots; slot 0 and the last one are occupied.
	prev := 0
	for k := 1; k < slots; k++ {
		if math.IsNaN(g.Values[k]) {
			continue
		}
		if gap := k - prev; gap > 1 {
			a, b := g.Values[prev], g.Values[k]
			for q := prev + 1; q < k; q++ {
				g.Values[q] = a + (b-a)*float64(q-prev)/float64(gap)
			}
			g.Filled += gap - 1
		}
		prev = k
	}
	return nil
}

func slotOf(t, t0, step int64) int {
	d := t - t0
	return int((d + step/2) / step)
}
