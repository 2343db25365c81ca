package robust

import "sort"

// RollingMedian writes to dst the median of a sliding window of x and
// returns dst, resliced (or allocated) to len(x). With w = min(window,
// len(x)), the window of index i is
//
//	x[s : s+w],  s = clamp(i - offset, 0, len(x) - w),
//
// so offset = window/2 gives a centred window, offset = window a trailing
// window that excludes x[i] (the median of the window previous values),
// offset = window-1 a trailing window that ends at x[i]. Near the ends the
// window is shifted inwards rather than shortened, so every median is taken
// over w values. work is scratch for w values. dst must not share memory
// with x.
//
// The window is kept sorted as it slides, so the cost is O(n·log w) compares
// and O(n·w) element moves in the worst case, cheap for windows up to a few
// thousand values.
func RollingMedian(dst, x []float64, window, offset int, work []float64) []float64 {
	n := len(x)
	dst = grow(dst, n)
	if n == 0 {
		return dst
	}
	if window < 1 {
		window = 1
	}
	w := min(window, n)
	buf := grow(work, w)
	start := func(i int) int { return min(max(i-offset, 0), n-w) }
	s := start(0)
	copy(buf, x[s:s+w])
	sort.Float64s(buf)
	for i := range n {
		if ns := start(i); ns != s {
			// ns == s+1: x[s] leaves, x[s+w] enters.
			buf = replaceSorted(buf, x[s], x[s+w])
			s = ns
		}
		dst[i] = MedianSorted(buf)
	}
	return dst
}

// replaceSorted removes one element equal to old from the ascending slice a
// and inserts v, keeping it sorted. old must be present.
func replaceSorted(a []float64, old, v float64) []float64 {
	r := min(searchFloat(a, old), len(a)-1)
	switch {
	case v > a[r]:
		// p: first index after r whose value is >= v.
		p := r + 1 + searchFloat(a[r+1:], v)
		copy(a[r:p-1], a[r+1:p])
		a[p-1] = v
	case v < a[r]:
		p := searchFloat(a[:r], v)
		copy(a[p+1:r+1], a[p:r])
		a[p] = v
	default:
		a[r] = v
	}
	return a
}

// searchFloat returns the first index i with a[i] >= v, or len(a); it is
// sort.SearchFloat64s without the closure call per probe.
func searchFloat(a []float64, v float64) int {
	lo, hi := 0, len(a)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if a[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}
