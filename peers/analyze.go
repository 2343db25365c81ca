package peers

import (
	"fmt"
	"math"
	"strconv"

	"github.com/anomalyd/detector/algorithms/dbscan"
	"github.com/anomalyd/detector/algorithms/robust"
)

// Judgement constants (see the package documentation for why).
const (
	// BandFraction: a cluster is large when it holds at least this share
	// of the judged members (and at least min_pts of them). Several large
	// clusters are bands: healthy behaviours, none of them flagged.
	BandFraction = 0.2
	// MinCoverage is the share of the window's steps a member must have
	// data for; members with less are skipped and said so.
	MinCoverage = 0.5
	// MinEps is the floor of the automatic eps, in scaled units (RMS
	// difference relative to the group's scale): members closer to each
	// other than 1% of the group's level are never told apart.
	MinEps = 0.01
	// maxMatrix is the largest group judged through a full distance matrix;
	// larger groups use the kd-tree and a sample for eps.
	maxMatrix = 2048
)

// status of one member in one evaluation.
type status uint8

const (
	stOK      status = iota // judged, not an outlier
	stOutlier               // judged, an outlier
	stSkipped               // too little data to judge
)

// memberOut is the compact, pointer-free outcome for one member; texts are
// formatted when results are read (reasons of outliers are kept aside).
type memberOut struct {
	distance float32
	last     float32 // the member's value at the last step (gaps filled)
	cluster  int32
	reason   int32   // index into groupOut.reasons, -1 for none
	level    float32 // the member's own level on ScaleMember, else 0
	known    int16   // steps with data in the window
	diffFrom int16
	diffTo   int16
	status   status
}

// groupOut is the outcome for one group.
type groupOut struct {
	eps     float64
	minPts  int
	window  int
	skipped string
	scale   Scale // the scale judged on (ScaleGroup or ScaleMember)
	bands   int   // number of large clusters
	large   []int // labels of the large clusters in label order
	out     []memberOut
	reasons []string
	lastMed float64 // the median series' last value (on ScaleMember in own levels)
	lower   float64 // range of the healthy members' last values (idem)
	upper   float64
}

// params are the DBSCAN settings of one judgement.
type params struct {
	eps        float64 // 0 = automatic
	minPts     int     // 0 = automatic
	tolerance  float64 // 0 = dbscan.DefaultTolerance
	minMembers int
	scale      Scale // "" = DefaultScale
}

// autoMinPts is the min_pts used when the rule leaves it at 0: a tenth of
// the judged members, at least 2 and at most 5. At most half the size of
// the smallest large cluster (BandFraction × m), so every band can hold
// core points.
func autoMinPts(m int) int {
	return min(max(int(math.Ceil(0.1*float64(m))), 2), 5)
}

// analyzer holds the scratch of one judgement at a time; one per goroutine.
type analyzer struct {
	keep  []int
	x     []float64 // judged rows, compact
	gap   []bool    // steps without data (filled), row-major like x; empty when none
	lv    []float64 // member levels
	lg    []float64
	med   []float64
	col   []float64
	work  []float64
	sc    []float64
	feat  []float64
	dist  []float64
	kd    []float64
	sizes []int
	isBig []bool
	r     []float64
	cl    dbscan.Clusterer
	res   dbscan.Result
}

func growF(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// fill replaces the NaN gaps of row in place and returns the number of
// values it had: interior gaps are interpolated linearly between their
// neighbours, leading gaps take the first value, trailing gaps carry the
// last value forward. A row without any value is left as is.
func fill(row []float64) int {
	known, prev := 0, -1
	for t, v := range row {
		if math.IsNaN(v) {
			continue
		}
		known++
		switch {
		case prev < 0:
			for u := range t {
				row[u] = v
			}
		case t-prev > 1:
			a := row[prev]
			for u := prev + 1; u < t; u++ {
				row[u] = a + (v-a)*float64(u-prev)/float64(t-prev)
			}
		}
		prev = t
	}
	if prev >= 0 {
		for u := prev + 1; u < len(row); u++ {
			row[u] = row[prev]
		}
	}
	return known
}

// analyze judges one group: vals holds n members × w steps row-major with
// NaN for missing steps (gaps are filled in place). The outcome goes to g.
func (a *analyzer) analyze(vals []float64, n, w int, p params, g *groupOut) {
	g.eps, g.minPts, g.window, g.skipped, g.bands, g.scale = 0, 0, w, "", 0, ""
	if p.scale == "" {
		p.scale = DefaultScale
	}
	g.large, g.reasons = g.large[:0], g.reasons[:0]
	g.lastMed, g.lower, g.upper = 0, 0, 0
	if cap(g.out) < n {
		g.out = make([]memberOut, n)
	}
	g.out = g.out[:n]

	minKnown := int(math.Ceil(MinCoverage * float64(w)))
	a.keep = a.keep[:0]
	a.gap = growB(a.gap, n*w)
	gaps := false
	for i := range n {
		row := vals[i*w : (i+1)*w]
		for t, v := range row {
			a.gap[i*w+t] = math.IsNaN(v)
			gaps = gaps || a.gap[i*w+t]
		}
		k := fill(row)
		g.out[i] = memberOut{cluster: dbscan.Noise, reason: -1, known: int16(k), diffFrom: -1, diffTo: -1, last: float32(row[w-1])}
		if k < minKnown || k == 0 {
			g.out[i].status = stSkipped
			continue
		}
		a.keep = append(a.keep, i)
	}
	m := len(a.keep)
	minMembers := max(p.minMembers, 2)
	if m < minMembers {
		if m < n {
			g.skipped = fmt.Sprintf("too few members to judge: %d of %d have data for at least %d of %d steps, need %d", m, n, minKnown, w, minMembers)
		} else {
			g.skipped = fmt.Sprintf("too few members to judge: %d, need %d", m, minMembers)
		}
		return
	}

	// The judged members' rows, compact; on the member scale each divided
	// by its own level.
	a.x = growF(a.x, m*w)
	for j, i := range a.keep {
		copy(a.x[j*w:(j+1)*w], vals[i*w:(i+1)*w])
		if gaps {
			copy(a.gap[j*w:(j+1)*w], a.gap[i*w:(i+1)*w]) // j <= i
		}
	}
	if !gaps {
		a.gap = a.gap[:0]
	} else {
		a.gap = a.gap[:m*w]
	}
	a.work = growF(a.work, m*w)
	g.scale = ScaleGroup
	if p.scale != ScaleGroup {
		spread := a.memberLevels(a.x, m, w)
		if p.scale == ScaleMember || spread >= AutoScaleSpread {
			g.scale = ScaleMember
		}
	}
	if g.scale == ScaleMember {
		for j := range m {
			if l := a.lv[j]; l > 0 {
				row := a.x[j*w : (j+1)*w]
				for t := range row {
					row[t] /= l
				}
			}
		}
	}
	x := a.x[:m*w]

	// Scale: the median absolute value over the group and the window; when
	// most values are 0, the MAD; then the largest absolute value; then 1.
	for j, v := range x {
		a.work[j] = math.Abs(v)
	}
	a.sc = growF(a.sc, m*w)
	scale := robust.Median(a.work, a.sc)
	if !(scale > 0) {
		copy(a.work, x)
		_, scale = robust.MedianMAD(a.work, a.sc)
	}
	if !(scale > 0) {
		for _, v := range x {
			scale = math.Max(scale, math.Abs(v))
		}
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		scale = 1
	}

	// The median series, step by step over the judged members; members a
	// step or two out of phase with it are aligned.
	a.medianSeries(x, m, w)
	if g.scale == ScaleMember {
		if a.refineLevels(x, m, w) {
			a.medianSeries(x, m, w)
		}
		for j, i := range a.keep {
			g.out[i].level = float32(a.lv[j])
		}
	}
	a.gap = a.align(x, a.gap, a.med, m, w)

	// Features: x / (scale × √w), so that Euclidean distance is the RMS
	// difference over the window relative to the group's scale.
	f := 1 / (scale * math.Sqrt(float64(w)))
	a.feat = growF(a.feat, m*w)
	for j, v := range x {
		a.feat[j] = v * f
	}

	minPts := p.minPts
	if minPts <= 0 {
		minPts = autoMinPts(m)
	}
	g.minPts = minPts
	eps := p.eps
	var err error
	if m <= maxMatrix {
		a.dist = growF(a.dist, m*m)
		for i := range m {
			a.dist[i*m+i] = 0
			xi := a.feat[i*w : (i+1)*w]
			for j := range i {
				var d float64
				if len(a.gap) > 0 {
					d = math.Sqrt(maskedSqDist(xi, a.feat[j*w:(j+1)*w], a.gap[i*w:(i+1)*w], a.gap[j*w:(j+1)*w]))
				} else {
					d = math.Sqrt(sqDist(xi, a.feat[j*w:(j+1)*w]))
				}
				a.dist[i*m+j], a.dist[j*m+i] = d, d
			}
		}
		if eps <= 0 {
			a.kd = dbscan.KDistancesMatrix(a.kd, a.dist, m, minPts, a.work)
			eps = max(dbscan.AutoEps(a.kd, p.tolerance, a.work), MinEps)
		}
		err = a.cl.RunMatrix(&a.res, a.dist, m, eps, minPts)
	} else {
		if eps <= 0 {
			// k-distances within an evenly strided sample of maxMatrix
			// members; k shrinks with the sampling rate (at least 2).
			s := maxMatrix
			a.dist = growF(a.dist, s*w)
			for j := range s {
				src := (j * m / s) * w
				copy(a.dist[j*w:(j+1)*w], a.feat[src:src+w])
			}
			k := max(2, int(math.Round(float64(minPts)*float64(s)/float64(m))))
			a.kd = dbscan.KDistances(a.kd, a.dist[:s*w], w, k, a.work)
			eps = max(dbscan.AutoEps(a.kd, p.tolerance, a.work), MinEps)
		}
		err = a.cl.Run(&a.res, a.feat, w, eps, minPts, dbscan.KDTree)
	}
	g.eps = eps
	if err != nil { // cannot happen: finite features, eps > 0, minPts >= 1
		g.skipped = "clustering failed: " + err.Error()
		return
	}

	// Large clusters and the verdicts.
	a.sizes = a.res.Sizes(a.sizes)
	big := max(minPts, int(math.Ceil(BandFraction*float64(m))))
	if cap(a.isBig) < len(a.sizes) {
		a.isBig = make([]bool, len(a.sizes))
	}
	a.isBig = a.isBig[:len(a.sizes)]
	inBig := 0
	for l, s := range a.sizes {
		a.isBig[l] = s >= big
		if a.isBig[l] {
			g.large = append(g.large, l)
			inBig += s
		}
	}
	g.bands = len(g.large)
	judged := true
	switch {
	case a.res.Clusters == 0:
		g.skipped = fmt.Sprintf("no common behaviour: every member is noise at eps %.3g with min_pts %d", eps, minPts)
		judged = false
	case 2*inBig < m:
		g.skipped = fmt.Sprintf("no common behaviour: only %d of %d members are in clusters of at least %d at eps %.3g", inBig, m, big, eps)
		judged = false
	}

	// Deviations from the median series, in scaled units, and the group's
	// typical deviation (the median |r| over members and steps).
	a.r = growF(a.r, m*w)
	for j := range m {
		for t, v := range x[j*w : (j+1)*w] {
			a.r[j*w+t] = (v - a.med[t]) / scale
		}
	}
	for j := range m * w {
		a.work[j] = math.Abs(a.r[j])
	}
	typical := robust.Median(a.work[:m*w], a.sc)

	g.lastMed = a.med[w-1]
	first := true
	for j, i := range a.keep {
		o := &g.out[i]
		l := a.res.Labels[j]
		o.cluster = int32(l)
		r := a.r[j*w : (j+1)*w]
		if len(a.gap) > 0 {
			o.distance = float32(maskedRMS(r, a.gap[j*w:(j+1)*w]))
		} else {
			o.distance = float32(rms(r))
		}
		from, to := differsMost(r, typical)
		o.diffFrom, o.diffTo = int16(from), int16(to)
		if !judged {
			continue
		}
		if l >= 0 && a.isBig[l] {
			last := float64(o.last)
			if o.level > 0 {
				last /= float64(o.level)
			}
			if first || last < g.lower {
				g.lower = last
			}
			if first || last > g.upper {
				g.upper = last
			}
			first = false
			continue
		}
		o.status = stOutlier
		o.reason = int32(len(g.reasons))
		if g.scale == ScaleMember {
			why, f, t := explainMember(x[j*w:(j+1)*w], a.med, r, from, to)
			o.diffFrom, o.diffTo = int16(f), int16(t)
			g.reasons = append(g.reasons, why)
		} else {
			g.reasons = append(g.reasons, explain(x[j*w:(j+1)*w], a.med, r, from, to, scale))
		}
	}
}

func sqDist(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		d := v - b[i]
		s += d * d
	}
	return s
}

func rms(r []float64) float64 {
	var s float64
	for _, v := range r {
		s += v * v
	}
	return math.Sqrt(s / float64(len(r)))
}

// differsMost returns the contiguous steps [from, to] where |r| exceeds
// h = max(2 × typical, ¼ × max|r|) by the largest total (Kadane's maximum
// subarray over |r_t| - h); when no step exceeds h, the single step of
// largest |r|. typical is the group's median |r|, so steps within the
// group's ordinary spread never extend the span.
func differsMost(r []float64, typical float64) (from, to int) {
	peak, at := -1.0, 0
	for t, v := range r {
		if a := math.Abs(v); a > peak {
			peak, at = a, t
		}
	}
	h := max(2*typical, peak/4)
	best, cur, start := 0.0, 0.0, 0
	from, to = at, at
	for t, v := range r {
		if cur <= 0 {
			cur, start = 0, t
		}
		cur += math.Abs(v) - h
		if cur > best {
			best, from, to = cur, start, t
		}
	}
	return from, to
}

// explain describes an outlier's difference over the steps [a, b] where it
// differs most: a level difference, a drift or a different shape.
//
//   - drift: over the span the difference r grows away from the group: a
//     line fits it (R² >= 0.6), the fitted change is at least half the mean
//     difference and of the same sign, at least 80% of the steps lie on
//     that side (a drift is one-sided; a different shape crosses the
//     group), and the span has at least 4 steps;
//   - level: otherwise, when the mean difference carries at least half of
//     the span's squared difference (a steady offset);
//   - shape: otherwise.
func explain(x, med, r []float64, a, b int, scale float64) string {
	w := len(x)
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

	if n >= 4 {
		// least squares line through (t, r_t) over the span
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
		change := slope * float64(n-1)
		same := 0 // steps on the side the difference grows to
		for _, v := range seg {
			if v*change > 0 {
				same++
			}
		}
		if r2 >= 0.6 && math.Abs(change) >= 0.5*math.Abs(mean) && change*mean > 0 && 5*same >= 4*n {
			third := max(n/3, 1)
			from := level(x[a:a+third], med[a:a+third])
			to := level(x[b+1-third:b+1], med[b+1-third:b+1])
			return fmt.Sprintf("drifts away from the group median %s: from %s to %s", where, from, to)
		}
	}
	if mean*mean >= 0.5*sq {
		return fmt.Sprintf("level %s the group median %s", level(x[a:b+1], med[a:b+1]), where)
	}
	lv := level(x[a:b+1], med[a:b+1])
	return fmt.Sprintf("shape differs from the group median %s (RMS difference %s of the group's scale, level %s)",
		where, num(math.Sqrt(sq)), lv)
}

// level compares the means of x and med: "2.3x" when both have the same
// sign and the median is not near zero, otherwise the signed difference
// ("+12.5 above", "-3 below").
func level(x, med []float64) string {
	var mx, mm float64
	for i := range x {
		mx += x[i]
		mm += med[i]
	}
	mx /= float64(len(x))
	mm /= float64(len(x))
	if mm != 0 && mx/mm > 0 && math.Abs(mm) > 1e-9*math.Abs(mx) {
		return num(mx/mm) + "x"
	}
	d := mx - mm
	if d >= 0 {
		return "+" + num(d) + " above"
	}
	return num(d) + " below"
}

// num formats with 3 significant digits, without exponent below 1e6.
func num(v float64) string {
	if a := math.Abs(v); a >= 1000 && a < 1e6 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// span names the steps [a, b] of a w-step window.
func span(a, b, w int) string {
	switch {
	case a == 0 && b == w-1:
		return fmt.Sprintf("over the whole window (%d steps)", w)
	case b == w-1 && a == b:
		return "at the last step"
	case b == w-1:
		return fmt.Sprintf("over the last %d steps", b-a+1)
	case a == b:
		return fmt.Sprintf("at step %d of 0-%d", a, w-1)
	}
	return fmt.Sprintf("in steps %d-%d of 0-%d", a, b, w-1)
}

// memberReason is the text for member i of g.
func memberReason(g *groupOut, i int) string {
	o := &g.out[i]
	switch o.status {
	case stOutlier:
		return g.reasons[o.reason]
	case stSkipped:
		return fmt.Sprintf("too little data: %d of %d steps", o.known, g.window)
	}
	if g.skipped != "" || o.cluster < 0 {
		return ""
	}
	if g.bands > 1 {
		for k, l := range g.large {
			if int32(l) == o.cluster {
				return fmt.Sprintf("in band %d of %d", k+1, g.bands)
			}
		}
	}
	return "in the main cluster"
}
