package peers

import (
	"fmt"
	"math"
	"slices"

	"github.com/anomalyd/detector/algorithms/robust"
)

// Scale says what members of a group are compared by.
//
//   - ScaleGroup: every member's values are divided by the group's scale
//     (its median |x|), so members compare by level and shape: a member at
//     1.4× the others' level is an outlier. Right for members alike in
//     size (servers behind one load balancer).
//   - ScaleMember: each member's values are divided by its own level (its
//     median |x| over the window, refined by its median ratio to the
//     group's median series), so members compare by shape relative to
//     their own size: a device family with ten times the audience of
//     another is not an outlier for its size, one that falls to 0.4× its
//     own level while its peers hold is. Distance and eps are then in
//     units of each member's own level.
//   - ScaleAuto: member when the members' levels spread (the bulk of them,
//     leaving out the largest and smallest tenth, spans at least a factor
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
// ScaleAuto compares by shape: the ratio of the largest to the smallest
// level once the largest and smallest tenth of the members (at least one
// each) are left out. Members with persistent offsets of 5% spread by
// about 1.15 (100 members), two bands at 1.6× each other by 1.6, device
// families whose audiences span a factor of 10 by 4 to 8; a lone member
// of another size does not count.
const AutoScaleSpread = 2

// maxLag is the largest shift, in steps, by which a member is aligned with
// the group's median series before it is compared (members a step or two
// out of phase, late data). A shift is taken only when it removes at least
// lagGain of the member's mean squared difference from the median series.
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
	return trimmedSpread(a.lg)
}

// trimmedSpread is exp(max - min) of the log levels lg after leaving out
// the largest and the smallest tenth (at least one each): the factor the
// bulk of the members' levels spans, blind to a lone member of another
// size. 1 for fewer than 3 levels. lg is reordered.
func trimmedSpread(lg []float64) float64 {
	n := len(lg)
	if n < 3 {
		return 1
	}
	slices.Sort(lg)
	k := max(1, n/10)
	return math.Exp(lg[n-1-k] - lg[k])
}

// align shifts each row of x (m rows of w) by the lag in [-L, L] that best
// matches the median series med: the one with the least mean squared
// difference over the steps it covers with data, when that is at least
// lagGain below the unshifted one. The steps shifted in are marked as gaps
// (so distances leave them out); a member late by ℓ steps is thus not
// judged on the peers' last ℓ steps, one ahead not on its own last ℓ. L is
// maxLag, at most a tenth of the window. gap may be empty (no gaps yet);
// it then becomes m*w long when a row is shifted.
func (a *analyzer) align(x []float64, gap []bool, med []float64, m, w int) []bool {
	lag := min(maxLag, w/10)
	if lag == 0 {
		return gap
	}
	a.col = growF(a.col, max(m, w))
	for j := range m {
		row := x[j*w : (j+1)*w]
		var g []bool
		if len(gap) > 0 {
			g = gap[j*w : (j+1)*w]
		}
		mse := func(l int) float64 {
			var s float64
			c := 0
			for t := max(0, -l); t < min(w, w-l); t++ {
				if g != nil && g[t+l] {
					continue
				}
				d := row[t+l] - med[t]
				s += d * d
				c++
			}
			if c < w/2 {
				return math.Inf(1)
			}
			return s / float64(c)
		}
		base := mse(0)
		best, at := base, 0
		for l := -lag; l <= lag; l++ {
			if l == 0 {
				continue
			}
			if s := mse(l); s < best {
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
		if len(gap) == 0 {
			gap = growB(a.gap, m*w)
			clear(gap)
			g = gap[j*w : (j+1)*w]
		}
		if g == nil {
			g = gap[j*w : (j+1)*w]
		}
		// the steps shifted in are not data
		if at > 0 {
			copy(g, g[at:])
			for t := w - at; t < w; t++ {
				g[t] = true
			}
		} else {
			copy(g[-at:], g[:w+at])
			for t := range -at {
				g[t] = true
			}
		}
	}
	return gap
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

// explainMember describes an outlier of a group judged on ScaleMember: y
// is the member's window divided by its own level, med the median of the
// members' y, r = y - med, [a, b] the span where it differs most. It
// returns the reason and the span it names.
//
// A span inside the window (a bump or a dip that ended) is described by
// the member's mean over it against its mean elsewhere. A span that
// touches either end is a change: the ratio q = y/med of the member to its
// peers is fitted with a step (one level before step c, another from c on)
// and with a bend (one level before c, a line from c on), c chosen by
// least squares. The bend that explains clearly more than the step (a
// third less squared error) and whose line moves by at least half the
// change is a drift ("drifts down from its peers over the last 20 steps:
// from 1x to 0.5x its own level"); otherwise a step ("fell to 0.4x its own
// level over the last 10 steps while its peers held", the peers' own
// change named when it exceeds 10%). When neither fits (the step removes
// less than half of q's variance), or q cannot be formed, the shape
// differs.
func explainMember(y, med, r []float64, a, b int) (string, int, int) {
	w := len(y)
	if a > 0 && b < w-1 {
		mc, ok := change(y, a, b)
		pc, pok := change(med, a, b)
		if ok && pok {
			return fmt.Sprintf("%s to %sx its own level %s %s", verb(mc), num(mc), span(a, b, w), peersMoved(pc)), a, b
		}
		return shapeReason(r, a, b), a, b
	}
	q := make([]float64, w)
	for t := range w {
		if !(med[t] > 0) {
			return shapeReason(r, a, b), a, b
		}
		q[t] = y[t] / med[t]
	}
	var total float64
	qm := mean(q)
	for _, v := range q {
		total += (v - qm) * (v - qm)
	}
	// step: best c in [1, w-1]
	stepC, stepSSE := 0, math.Inf(1)
	for c := 1; c < w; c++ {
		if e := sse(q[:c]) + sse(q[c:]); e < stepSSE {
			stepC, stepSSE = c, e
		}
	}
	// bend: level before c, a line from c on (at least 4 steps)
	bendC, bendSSE, bendFrom, bendTo := 0, math.Inf(1), 0.0, 0.0
	for c := 1; c <= w-4; c++ {
		e, f0, f1 := lineSSE(q[c:])
		if e += sse(q[:c]); e < bendSSE {
			bendC, bendSSE, bendFrom, bendTo = c, e, f0, f1
		}
	}
	if !(total > 0) || stepSSE > 0.5*total {
		return shapeReason(r, a, b), a, b
	}
	before := mean(q[:stepC])
	if bendSSE < (2.0/3)*stepSSE {
		lv := mean(q[:bendC])
		chg := bendTo - lv
		if lv > 0 && math.Abs(bendTo-bendFrom) >= 0.5*math.Abs(chg) && (bendTo-bendFrom)*chg > 0 {
			dir := "down"
			if chg > 0 {
				dir = "up"
			}
			return fmt.Sprintf("drifts %s from its peers %s: from %sx to %sx its own level", dir, span(bendC, w-1, w),
				num(bendFrom/lv), num(bendTo/lv)), bendC, w - 1
		}
	}
	if !(before > 0) {
		return shapeReason(r, a, b), a, b
	}
	mc := mean(q[stepC:]) / before
	pm0, pm1 := mean(med[:stepC]), mean(med[stepC:])
	pc := 1.0
	if pm0 > 0 {
		pc = pm1 / pm0
	}
	return fmt.Sprintf("%s to %sx its own level %s %s", verb(mc), num(mc), span(stepC, w-1, w), peersMoved(pc)), stepC, w - 1
}

func verb(c float64) string {
	if c > 1 {
		return "rose"
	}
	return "fell"
}

func peersMoved(pc float64) string {
	if math.Abs(pc-1) > 0.1 {
		return "while its peers went to " + num(pc) + "x"
	}
	return "while its peers held"
}

func shapeReason(r []float64, a, b int) string {
	var sq float64
	for _, v := range r[a : b+1] {
		sq += v * v
	}
	return fmt.Sprintf("shape differs from its peers' %s (RMS difference %s of its own level)", span(a, b, len(r)), num(math.Sqrt(sq/float64(b-a+1))))
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// sse is the squared error of v around its mean.
func sse(v []float64) float64 {
	m := mean(v)
	var s float64
	for _, x := range v {
		s += (x - m) * (x - m)
	}
	return s
}

// lineSSE fits a least-squares line to v: its squared error and its values
// at the first and last step.
func lineSSE(v []float64) (e, first, last float64) {
	n := len(v)
	tm := float64(n-1) / 2
	m := mean(v)
	var stt, stv float64
	for t, x := range v {
		dt := float64(t) - tm
		stt += dt * dt
		stv += dt * (x - m)
	}
	slope := stv / stt
	for t, x := range v {
		d := x - (m + slope*(float64(t)-tm))
		e += d * d
	}
	return e, m - slope*tm, m + slope*tm
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

func growB(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}

// maskedSqDist is the squared distance between a and b over the steps
// where both have data (ga, gb false for them), scaled up to the whole
// window; sqDist of the filled rows when they share no step.
func maskedSqDist(a, b []float64, ga, gb []bool) float64 {
	b, ga, gb = b[:len(a)], ga[:len(a)], gb[:len(a)]
	var s float64
	c := 0
	for i, v := range a {
		if ga[i] || gb[i] {
			continue
		}
		d := v - b[i]
		s += d * d
		c++
	}
	if c == 0 {
		return sqDist(a, b)
	}
	return s * float64(len(a)) / float64(c)
}

// maskedRMS is the RMS of r over the steps with data, rms(r) when none.
func maskedRMS(r []float64, g []bool) float64 {
	var s float64
	c := 0
	for i, v := range r {
		if !g[i] {
			s += v * v
			c++
		}
	}
	if c == 0 {
		return rms(r)
	}
	return math.Sqrt(s / float64(c))
}

// medianSeries puts the step-wise median of the m rows of x into a.med.
func (a *analyzer) medianSeries(x []float64, m, w int) {
	a.med = growF(a.med, w)
	a.col = growF(a.col, max(m, w))
	for t := range w {
		for j := range m {
			a.col[j] = x[j*w+t]
		}
		a.med[t] = robust.Median(a.col[:m], a.work[:0])
	}
}

// refineLevels makes the member levels consistent with the group's shape:
// each row of x (already divided by its median |x|) is divided again by
// its median ratio to the median series a.med (over the steps with data
// where the median series is positive), and a.lv multiplied by it. A
// window's median is unstable when the window holds a step that all
// members share (a premiere, a release) near its middle; the median ratio
// to the shared shape is not. It reports whether any level changed.
func (a *analyzer) refineLevels(x []float64, m, w int) bool {
	changed := false
	for j := range m {
		if !(a.lv[j] > 0) {
			continue
		}
		row := x[j*w : (j+1)*w]
		n := 0
		for t, v := range row {
			if a.med[t] > 0 && (len(a.gap) == 0 || !a.gap[j*w+t]) {
				a.col[n] = v / a.med[t]
				n++
			}
		}
		if n < w/2 {
			continue
		}
		k := robust.Median(a.col[:n], a.work)
		if !(k > 0) || math.IsInf(k, 0) || k == 1 {
			continue
		}
		for t := range row {
			row[t] /= k
		}
		a.lv[j] *= k
		changed = true
	}
	return changed
}
