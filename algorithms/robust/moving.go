package robust

import "math"

// MovingMedian is the median of the last Window values of a stream, fed one
// value at a time: the streaming form of pandas'
// Series.rolling(window, min_periods).median(), value for value.
//
// The window of the i-th value pushed holds that value and the window-1
// before it (fewer at the start of the stream). Values that are not finite
// (NaN, ±Inf) take a place in the window but not in the median, as pandas
// treats them (it turns ±Inf into NaN before its rolling functions): the
// median is taken over the finite values in the window, and is NaN while
// there are fewer than minPeriods of them (or none). With an even count it
// is the mean of the two middle values, (a+b)/2, as pandas computes it.
//
// The finite values of the window are kept sorted in a flat array beside a
// ring of the raw values, so a push is one search for the value leaving
// and a move of the values between it and the value entering: O(log w)
// compares and at most w moves, no allocation. The sorted array is padded
// to a power of two with +Inf and preceded by -Inf, so the search is a
// fixed number of branch-free steps and the moves need no end test.
// Storage is MovingMedianFloats(window) float64 values (window + 1 plus
// the next power of two above window), which Init can take from a
// caller's buffer so that many medians (one per series) share one
// contiguous allocation.
//
// The zero value is unusable; call Init. A MovingMedian is not safe for
// concurrent use.
type MovingMedian struct {
	// buf[:window] is the ring of the last window raw values, buf[head]
	// the oldest once the ring is full; buf[window] is -Inf;
	// buf[window+1:window+1+n] are the finite values among them,
	// ascending, and +Inf follows them up to the end of buf.
	buf        []float64
	window     int32
	minPeriods int32
	head       int32 // slot of the next value
	filled     int32 // values in the ring, up to window
	n          int32 // finite values in the ring
}

// sortedCap is the length of the padded sorted array of a window: the
// smallest power of two above window, so that +Inf always follows the
// values.
func sortedCap(window int) int {
	p := 1
	for p <= window {
		p <<= 1
	}
	return p
}

// MovingMedianFloats is the number of float64 values of storage a
// MovingMedian over window values uses (the size of Init's buf).
func MovingMedianFloats(window int) int {
	window = max(window, 1)
	return window + 1 + sortedCap(window)
}

// Init empties m and makes it a moving median over window values (at least
// 1) that answers once minPeriods of them are finite (at least 1, at most
// window). It keeps its state in buf[:MovingMedianFloats(window)] when buf
// is large enough and allocates otherwise; buf must not be shared with
// another MovingMedian.
func (m *MovingMedian) Init(window, minPeriods int, buf []float64) {
	window = max(window, 1)
	m.buf = grow(buf, MovingMedianFloats(window))
	m.window = int32(window)
	m.minPeriods = int32(min(max(minPeriods, 1), window))
	m.Reset()
}

// Reset empties the window, keeping the configuration and the storage.
func (m *MovingMedian) Reset() {
	m.head, m.filled, m.n = 0, 0, 0
	w := int(m.window)
	m.buf[w] = math.Inf(-1)
	inf := math.Inf(1)
	for i := range m.buf[w+1:] {
		m.buf[w+1+i] = inf
	}
}

// Window returns the window length.
func (m *MovingMedian) Window() int { return int(m.window) }

// Count returns the number of finite values in the window.
func (m *MovingMedian) Count() int { return int(m.n) }

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return x-x == 0 }

// Push adds x to the window (dropping the oldest value once the window is
// full) and returns the median of the window, or NaN while it holds fewer
// than minPeriods finite values.
func (m *MovingMedian) Push(x float64) float64 {
	w := int(m.window)
	ring := m.buf[:w:w]
	lo := m.buf[w:]       // -Inf, then the sorted values
	sorted := m.buf[w+1:] // power-of-two length, +Inf after the values
	n := int(m.n)
	head := int(m.head)
	old := math.NaN()
	if int(m.filled) < w {
		m.filled++
	} else {
		old = ring[head]
	}
	ring[head] = x
	switch oldOK, newOK := finite(old), finite(x); {
	case oldOK && newOK:
		// The value at i leaves; the values between it and x's place
		// move one step towards it (the sentinels stop the loops).
		i := lowerBound(sorted, old) + 1 // index in lo
		if x > old {
			for lo[i+1] < x {
				lo[i] = lo[i+1]
				i++
			}
		} else {
			for lo[i-1] > x {
				lo[i] = lo[i-1]
				i--
			}
		}
		lo[i] = x
	case oldOK:
		r := lowerBound(sorted, old)
		copy(sorted[r:n-1], sorted[r+1:n])
		sorted[n-1] = math.Inf(1)
		n--
	case newOK:
		p := lowerBound(sorted, x)
		copy(sorted[p+1:n+1], sorted[p:n])
		sorted[p] = x
		n++
	}
	if head++; head == w {
		head = 0
	}
	m.head = int32(head)
	m.n = int32(n)
	return medianOfSorted(sorted[:n], int(m.minPeriods))
}

// Median returns the median of the window as the last Push did.
func (m *MovingMedian) Median() float64 {
	w := int(m.window)
	return medianOfSorted(m.buf[w+1:w+1+int(m.n)], int(m.minPeriods))
}

// medianOfSorted is pandas' rolling median of the ascending finite values
// s: NaN below minPeriods values, the middle one for an odd count, the mean
// (a+b)/2 of the two middle ones for an even count.
func medianOfSorted(s []float64, minPeriods int) float64 {
	n := len(s)
	if n < minPeriods || n == 0 {
		return math.NaN()
	}
	h := n >> 1
	if n&1 == 1 {
		return s[h]
	}
	return (s[h] + s[h-1]) / 2
}

// lowerBound returns the first index i with a[i] >= v; len(a) is a power
// of two and v is less than a's last element. The loop has no
// data-dependent branch (the compiler selects with SETcc), so a window of
// random values costs no branch mispredictions.
func lowerBound(a []float64, v float64) int {
	base := 0
	for half := len(a) >> 1; half > 0; half >>= 1 {
		base += half & -less(a[base+half-1], v)
	}
	return base
}

// less is 1 if a < b and 0 otherwise, computed without a branch.
func less(a, b float64) int {
	c := 0
	if a < b {
		c = 1
	}
	return c
}

// MovingZ is the streaming robust z-score of the rolling median/MAD recipe
// people write in pandas, value for value:
//
//	med = x.rolling(window, min_periods).median()
//	mad = (x - med).abs().rolling(window, min_periods).median()
//	z   = (x - med) / (scale * mad)
//
// The MAD is a second moving median, over the deviations |x - med| of the
// window's values from their own rolling medians (not from the current
// one), so it answers minPeriods-1 values after the median does. A zero MAD
// gives ±Inf for a value off the median and NaN (0/0) for one on it, as in
// pandas. scale is the consistency constant (MADToSigma, or the 1.4826
// people type).
type MovingZ struct {
	level, spread MovingMedian
	scale         float64
}

// MovingZFloats is the number of float64 values of storage a MovingZ over
// window values uses (the size of Init's buf).
func MovingZFloats(window int) int { return 2 * MovingMedianFloats(window) }

// Init empties z and configures it; see MovingMedian.Init for window,
// minPeriods and buf (here MovingZFloats(window) values).
func (z *MovingZ) Init(window, minPeriods int, scale float64, buf []float64) {
	buf = grow(buf, MovingZFloats(window))
	half := MovingMedianFloats(window)
	z.level.Init(window, minPeriods, buf[:half:half])
	z.spread.Init(window, minPeriods, buf[half:])
	z.scale = scale
}

// Reset empties both windows.
func (z *MovingZ) Reset() { z.level.Reset(); z.spread.Reset() }

// Push adds x and returns its z-score with the rolling median and MAD it
// was taken against; z is NaN until both have minPeriods finite values.
func (z *MovingZ) Push(x float64) (score, med, mad float64) {
	med = z.level.Push(x)
	mad = z.spread.Push(math.Abs(x - med))
	return (x - med) / (z.scale * mad), med, mad
}

// Prefetch asks the CPU to bring the parts of z's storage the next Push
// reads (the ring slot it replaces, the sorted values) into the cache,
// without waiting for them. A Push reads its windows in chains of
// dependent searches, so with many series (more state than the cache
// holds) every Push waits for several cache misses in a row; calling
// Prefetch on the series a few places ahead of the one being pushed
// overlaps those misses (a third of the time per point at 10,000 series of
// window 60 on the 2-core machine). It changes nothing and does nothing on
// other architectures than amd64.
func (z *MovingZ) Prefetch() {
	a, b := &z.level, &z.spread
	if a.window == 0 || b.window == 0 {
		return
	}
	wa, wb := int(a.window), int(b.window)
	prefetchWindows(&a.buf[a.head], &a.buf[wa], (int(a.n)+8)/8+1, &b.buf[b.head], &b.buf[wb], (int(b.n)+8)/8+1)
}
