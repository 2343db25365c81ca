package peers

import (
	"fmt"
	"math"

	"github.com/anomalyd/detector/algorithms/robust"
)

// Scale says what members of a group are compared by.
//
//   - ScaleGroup: every member's values are divided by the group's scale
//     (its median |x|), so members compare by level and shape: a member at
//     1.4× the others' level is an outlier. Right for members alike in
//     size (servers behind one load balancer).
//   - ScaleMember: each member's values are divided by its own level (its
//     median |x| over the window), so members compare by shape relative to
//     their own size: a device family with ten times the audience of
//     another is not an outlier for its size, one that falls to 0.4× its
//     own level while its peers hold is. Distance and eps are then in
//     units of each member's own level.
//   - ScaleAuto: member when the members' levels spread (the median factor
//     between a member's level and the median member's level is at least
//     AutoScaleSpread), group otherwise. A group whose members are mostly
//     alike in size keeps the group scale, so a lone member of another size
//     is still flagged; a group of sizes spread over a factor of 10 is
//     judged by shape.
type Scale string

// Scales.
const (
	ScaleAuto   Scale = "auto"
	ScaleGroup  Scale = "group"
	ScaleMember Scale = "member"
	// DefaultScale is the scale of a rule or request that names none.
	DefaultScale = ScaleAuto
)

// AutoScaleSpread is the spread of the members' levels from which
// ScaleAuto compares by shape: the median over the members of
// max(L/M, M/L), L a member's level, M the median member's level. Members
// with persistent offsets of 5% spread by about 1.03; device families whose
// audiences span a factor of 10 by about 1.8.
const AutoScaleSpread = 1.25

// maxLag is the largest shift, in steps, by which a member is aligned with
// the group's median series before it is compared (members a step or two
// out of phase, late data). A shift is taken only when it removes at least
// lagGain of the member's squared difference from the median series.
const (
	maxLag  = 2
	lagGain = 0.3
)

// valid reports whether s names a scale ("" is the default).
func (s Scale) valid() bool {
	switch s {
	case "", ScaleAuto, ScaleGroup, ScaleMember:
		return true
	}
	return false
}

func scaleErr(s Scale) string {
	return fmt.Sprintf("scale %q: want group, member or auto", string(s))
}

// memberLevels puts the level of each row of x (m rows of w) into lv: its
// median |x|; when that is 0 (mostly zeros), its mean |x|; when the row is
// all zeros, 0. It returns the spread of the positive levels (see
// AutoScaleSpread), 1 when fewer than 3 are positive.
func (a *analyzer) memberLevels(x []float64, m, w int) float64 {
	a.lv = growF(a.lv, m)
	a.col = growF(a.col, max(m, w))
	a.lg = a.lg[:0]
	for j := range m {
		row := x[j*w : (j+1)*w]
		for t, v := range row {
			a.col[t] = math.Abs(v)
		}
		l := robust.Median(a.col[:w], a.work)
		if !(l > 0) {
			var s float64
			for _, v := range a.col[:w] {
				s += v
			}
			l = s / float64(w)
		}
		if !(l > 0) || math.IsInf(l, 0) {
			l = 0
		}
		a.lv[j] = l
		if l > 0 {
			a.lg = append(a.lg, math.Log(l))
		}
	}
	if len(a.lg) < 3 {
		return 1
	}
	med := robust.Median(a.lg, a.work)
	for i, v := range a.lg {
		a.lg[i] = math.Abs(v - med)
	}
	return math.Exp(robust.Median(a.lg, a.work))
}

// align shifts each row of x (m rows of w) by the lag in [-L, L] that best
// matches the median series med, when that removes at least lagGain of its
// squared difference over the steps every lag covers; the steps shifted in
// take the nearest value. L is maxLag, at most a tenth of the window.
func (a *analyzer) align(x, med []float64, m, w int) {
	lag := min(maxLag, w/10)
	if lag == 0 {
		return
	}
	a.col = growF(a.col, max(m, w))
	for j := range m {
		row := x[j*w : (j+1)*w]
		sse := func(l int) float64 {
			var s float64
			for t := lag; t < w-lag; t++ {
				d := row[t+l] - med[t]
				s += d * d
			}
			return s
		}
		base := sse(0)
		best, at := base, 0
		for l := -lag; l <= lag; l++ {
			if l == 0 {
				continue
			}
			if s := sse(l); s < best {
				best, at = s, l
			}
		}
		if at == 0 || !(best <= (1-lagGain)*base) {
			continue
		}
		tmp := a.col[:w]
		for t := range w {
			tmp[t] = row[min(max(t+at, 0), w-1)]
		}
		copy(row, tmp)
	}
}

// change is the ratio of the mean of v over [a, b] to its mean over the
// rest of the window, and false when the rest is empty or its mean is not
// positive.
func change(v []float64, a, b int) (float64, bool) {
	var in, out float64
	for t, x := range v {
		if t >= a && t <= b {
			in += x
		} else {
			out += x
		}
	}
	nOut := len(v) - (b - a + 1)
	if nOut == 0 {
		return 0, false
	}
	in /= float64(b - a + 1)
	out /= float64(nOut)
	if !(out > 0) || in < 0 {
		return 0, false
	}
	return in / out, true
}

// memberSpan turns the span [a, b] where a member differs most from its
// peers into the span its reason names: a span that starts the window and
// ends before its last step is a change at step b+1 that lasts to the end
// (the window's later part is the member's new state, the start its own
// earlier level).
func memberSpan(a, b, w int) (int, int) {
	if a == 0 && b < w-1 {
		return b + 1, w - 1
	}
	return a, b
}

// explainMember describes an outlier of a group judged on ScaleMember: y
// is the member's window divided by its own level, med the median of the
// members' y, r = y - med, [a, b] the span it names (memberSpan).
//
//   - drift: as for the group scale (a one-sided line in r), the member's
//     ratio to its peers at the start and end of the span;
//   - level: the mean of r over the span carries half its square; the
//     member's mean over the span against its mean over the rest of the
//     window ("fell to 0.4x its own level over the last 10 steps") and the
//     same for the median series ("while its peers held", or "while its
//     peers went to 0.8x" when they moved by more than 10%);
//   - shape: otherwise.
func explainMember(y, med, r []float64, a, b int) string {
	w := len(y)
	n := b - a + 1
	seg := r[a : b+1]
	var mean, sq float64
	for _, v := range seg {
		mean += v
		sq += v * v
	}
	mean /= float64(n)
	sq /= float64(n)
	where := span(a, b, w)
	if n >= 4 && isDrift(seg, mean) {
		third := max(n/3, 1)
		from := ratio(y[a:a+third], med[a:a+third])
		to := ratio(y[b+1-third:b+1], med[b+1-third:b+1])
		dir := "down"
		if mean > 0 {
			dir = "up"
		}
		return fmt.Sprintf("drifts %s from its peers %s: from %sx to %sx its own level relative to them", dir, where, num(from), num(to))
	}
	if mean*mean >= 0.5*sq {
		mc, ok := change(y, a, b)
		pc, pok := change(med, a, b)
		if ok && pok {
			verb := "fell"
			if mc > 1 {
				verb = "rose"
			}
			peers := "while its peers held"
			if math.Abs(pc-1) > 0.1 {
				peers = "while its peers went to " + num(pc) + "x"
			}
			return fmt.Sprintf("%s to %sx its own level %s %s", verb, num(mc), where, peers)
		}
		return fmt.Sprintf("level %sx its peers' relative to its own size %s", num(ratio(y[a:b+1], med[a:b+1])), where)
	}
	return fmt.Sprintf("shape differs from its peers' %s (RMS difference %s of its own level)", where, num(math.Sqrt(sq)))
}

// ratio is mean(x)/mean(med), 0 when the median's mean is not positive.
func ratio(x, med []float64) float64 {
	var mx, mm float64
	for i := range x {
		mx += x[i]
		mm += med[i]
	}
	if !(mm > 0) {
		return 0
	}
	return mx / mm
}

// isDrift reports whether the differences seg (mean mean) grow along a
// line away from the group: R² >= 0.6, the fitted change at least half the
// mean difference and of its sign, at least 80% of the steps on that side.
func isDrift(seg []float64, mean float64) bool {
	n := len(seg)
	tm := float64(n-1) / 2
	var stt, str, srr float64
	for t, v := range seg {
		dt := float64(t) - tm
		stt += dt * dt
		str += dt * (v - mean)
		srr += (v - mean) * (v - mean)
	}
	slope := str / stt
	r2 := 0.0
	if srr > 0 {
		r2 = str * str / (stt * srr)
	}
	chg := slope * float64(n-1)
	same := 0
	for _, v := range seg {
		if v*chg > 0 {
			same++
		}
	}
	return r2 >= 0.6 && math.Abs(chg) >= 0.5*math.Abs(mean) && chg*mean > 0 && 5*same >= 4*n
}

// expected returns what member i's last value would be if it behaved like
// its peers (the median series' last value) and the range of the healthy
// members' last values; on ScaleMember both are scaled by the member's own
// level.
func (g *groupOut) expected(i int) (exp, lower, upper float64) {
	f := 1.0
	if g.scale == ScaleMember && i < len(g.out) {
		f = float64(g.out[i].level)
	}
	return g.lastMed * f, g.lower * f, g.upper * f
}
