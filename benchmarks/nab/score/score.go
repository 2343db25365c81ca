package score

import (
	"fmt"
	"math"
	"slices"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

// NoDetection is the threshold that detects nothing (NAB's 1.1).
const NoDetection = 1.1

// Probation returns the number of leading rows of an N-row file that are
// not scored: min(floor(0.15·N), 750).
func Probation(n int) int {
	return int(math.Min(math.Floor(0.15*float64(n)), 0.15*5000))
}

// ScaledSigmoid is NAB's σ(x) = 2/(1+e^(5x)) - 1, taken as -1 for x >= 3.
// It runs from σ(-1) ≈ 0.98661 at a window's left edge through 0 at x = 0
// to about -1 far past a window.
func ScaledSigmoid(x float64) float64 {
	if x >= 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

var maxTP = ScaledSigmoid(-1)

// Result is the score of one file, one category or the whole set of files
// at a profile's threshold.
type Result struct {
	Key     string  // file key "<category>/<name>.csv", category name, or "total"
	Files   int     // files counted
	Windows int     // scored windows
	Raw     float64 // raw NAB score
	TP      int     // windows detected
	FN      int     // windows missed
	FP      int     // detections outside every window (rows)
}

// ProfileResult is the outcome of one profile's threshold sweep.
type ProfileResult struct {
	Name      string
	Profile   Profile
	Threshold float64 // chosen threshold; NoDetection when detecting nothing is best
	Raw       float64 // raw score summed over files at Threshold
	Null      float64 // raw score of the null detector: -A_FN·windows
	Perfect   float64 // raw score of the perfect detector: A_TP·windows
	// Score is the normalised score 100·(Raw-Null)/(Perfect-Null): 0 for the
	// null detector, 100 for the perfect one. NaN when no window is scored.
	Score      float64
	Total      Result
	Categories []Result // sorted by category
	Files      []Result // in the order of the files given to Evaluate
}

// Report is the evaluation of one detector's scores on a set of files.
type Report struct {
	Files    int
	Rows     int             // all rows, probation included
	Scorable int             // rows after probation
	Windows  int             // scored windows
	Profiles []ProfileResult // NAB's three first (standard, low FP, low FN), then others by name
}

// Profile returns the result for the named profile.
func (r *Report) Profile(name string) (ProfileResult, bool) {
	for _, p := range r.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return ProfileResult{}, false
}

// Score returns the normalised score for the named profile, NaN if absent.
func (r *Report) Score(name string) float64 {
	p, ok := r.Profile(name)
	if !ok {
		return math.NaN()
	}
	return p.Score
}

// point is one scorable row.
type point struct {
	score float64
	u     float64 // σ at the row's position: in-window TP value or out-of-window FP value, unweighted
	win   int32   // global window index, -1 outside every window
	file  int32
}

// prepared holds the scorable rows of a set of files, in file order.
type prepared struct {
	pts     []point
	start   []int // pts[start[f]:start[f+1]] are file f's rows
	winFile []int32
	rows    int
}

func prepare(files []corpus.File, scores [][]float64, windows map[string][]Window) prepared {
	if len(files) != len(scores) {
		panic(fmt.Sprintf("score: %d files but %d score slices", len(files), len(scores)))
	}
	var p prepared
	p.start = make([]int, len(files)+1)
	for fi := range files {
		f := &files[fi]
		n := f.Len()
		sc := scores[fi]
		if len(sc) != n {
			panic(fmt.Sprintf("score: %s has %d rows but %d scores", f.Key(), n, len(sc)))
		}
		p.rows += n
		prob := Probation(n)
		ws := windows[f.Key()]
		// Global ids for the windows that have a scorable row.
		ids := make([]int32, len(ws))
		for j, w := range ws {
			ids[j] = -1
			if w.R >= prob {
				ids[j] = int32(len(p.winFile))
				p.winFile = append(p.winFile, int32(fi))
			}
		}
		p.start[fi] = len(p.pts)
		wi := 0     // next window not yet passed
		prevR := -1 // right edge of the last window ended before the row
		prevW := 0  // its width
		for i := 0; i < n; i++ {
			for wi < len(ws) && ws[wi].R < i {
				prevR, prevW = ws[wi].R, ws[wi].Width()
				wi++
			}
			if i < prob {
				continue
			}
			s := sc[i]
			if math.IsNaN(s) {
				s = 0
			}
			pt := point{score: s, win: -1, file: int32(fi)}
			switch {
			case wi < len(ws) && ws[wi].L <= i:
				w := ws[wi]
				pt.win = ids[wi]
				pt.u = ScaledSigmoid(-float64(w.R-i+1) / float64(w.Width()))
			case prevR < 0:
				pt.u = -1
			case prevW <= 1:
				pt.u = -1
			default:
				pt.u = ScaledSigmoid(float64(i-prevR) / float64(prevW-1))
			}
			p.pts = append(p.pts, pt)
		}
	}
	p.start[len(files)] = len(p.pts)
	return p
}

// value is a point's weighted value when it is a detection.
func (pt *point) value(pr Profile) float64 {
	if pt.win >= 0 {
		return pt.u * pr.TP / maxTP
	}
	return pt.u * pr.FP
}

// Evaluate scores a detector's output on files. scores[i] holds one anomaly
// score per row of files[i] (NaN counts as 0); windows come from
// LoadWindows. For each profile it sweeps the threshold over the whole set
// of files and reports the best, with the per-category and per-file
// breakdown at that threshold.
//
// The sweep sorts the scorable rows once and walks the thresholds from high
// to low, updating the total incrementally: O(R log R) for R rows, whatever
// the number of distinct scores.
//
// Evaluate panics when the lengths of files, scores and rows disagree.
func Evaluate(files []corpus.File, scores [][]float64, windows map[string][]Window, profiles map[string]Profile) Report {
	p := prepare(files, scores, windows)
	order := sortedOrder(p.pts)
	rep := Report{Files: len(files), Rows: p.rows, Scorable: len(p.pts), Windows: len(p.winFile)}
	for _, name := range profileOrder(profiles) {
		pr := profiles[name]
		t := sweep(&p, order, pr)
		rep.Profiles = append(rep.Profiles, breakdown(&p, files, t, name, pr))
	}
	return rep
}

// sortedOrder returns the indices of pts by descending score, ties in
// input order (NAB's stable sort of the concatenated rows).
func sortedOrder(pts []point) []int32 {
	type key struct {
		score float64
		idx   int32
	}
	keys := make([]key, len(pts))
	for i := range pts {
		keys[i] = key{pts[i].score, int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return int(a.idx - b.idx)
	})
	order := make([]int32, len(keys))
	for i, k := range keys {
		order[i] = k.idx
	}
	return order
}

func profileOrder(profiles map[string]Profile) []string {
	var names []string
	for _, n := range []string{Standard, LowFP, LowFN} {
		if _, ok := profiles[n]; ok {
			names = append(names, n)
		}
	}
	var rest []string
	for n := range profiles {
		if n != Standard && n != LowFP && n != LowFN {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	return append(names, rest...)
}

// sweep returns the threshold with the largest total raw score; among
// equal totals the highest threshold.
func sweep(p *prepared, order []int32, pr Profile) float64 {
	best := make([]float64, len(p.winFile))
	for i := range best {
		best[i] = -pr.FN
	}
	tp := -pr.FN * float64(len(best)) // sum of window values
	fp := 0.0                         // sum of false-positive values
	bestT, bestS := NoDetection, tp
	for i := 0; i < len(order); {
		t := p.pts[order[i]].score
		for ; i < len(order) && p.pts[order[i]].score == t; i++ {
			pt := &p.pts[order[i]]
			v := pt.value(pr)
			if pt.win < 0 {
				fp += v
			} else if v > best[pt.win] {
				tp += v - best[pt.win]
				best[pt.win] = v
			}
		}
		if s := tp + fp; s > bestS {
			bestT, bestS = t, s
		}
	}
	return bestT
}

// breakdown scores every file at threshold t.
func breakdown(p *prepared, files []corpus.File, t float64, name string, pr Profile) ProfileResult {
	res := ProfileResult{Name: name, Profile: pr, Threshold: t, Files: make([]Result, len(files))}
	best := make([]float64, len(p.winFile))
	hit := make([]bool, len(p.winFile))
	for fi := range files {
		r := Result{Key: files[fi].Key(), Files: 1}
		for k := p.start[fi]; k < p.start[fi+1]; k++ {
			pt := &p.pts[k]
			if pt.score < t {
				continue
			}
			v := pt.value(pr)
			if pt.win < 0 {
				r.FP++
				r.Raw += v
			} else if !hit[pt.win] || v > best[pt.win] {
				hit[pt.win], best[pt.win] = true, v
			}
		}
		res.Files[fi] = r
	}
	for w, fi := range p.winFile {
		r := &res.Files[fi]
		r.Windows++
		if hit[w] {
			r.TP++
			r.Raw += best[w]
		} else {
			r.FN++
			r.Raw -= pr.FN
		}
	}
	cats := map[string]*Result{}
	res.Total.Key = "total"
	for fi, r := range res.Files {
		c := files[fi].Category
		cr, ok := cats[c]
		if !ok {
			cr = &Result{Key: c}
			cats[c] = cr
		}
		add(cr, r)
		add(&res.Total, r)
	}
	for _, cr := range cats {
		res.Categories = append(res.Categories, *cr)
	}
	slices.SortFunc(res.Categories, func(a, b Result) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	nw := float64(len(p.winFile))
	res.Raw = res.Total.Raw
	res.Null = -pr.FN * nw
	res.Perfect = pr.TP * nw
	if res.Perfect == res.Null {
		res.Score = math.NaN()
	} else {
		res.Score = 100 * (res.Raw - res.Null) / (res.Perfect - res.Null)
	}
	return res
}

func add(dst *Result, r Result) {
	dst.Files += r.Files
	dst.Windows += r.Windows
	dst.Raw += r.Raw
	dst.TP += r.TP
	dst.FN += r.FN
	dst.FP += r.FP
}

// FileScore scores one file of n rows at a fixed threshold: the raw score
// and counts that file contributes when rows with score >= threshold are
// detections. key names the file in the result.
func FileScore(key string, scores []float64, windows []Window, threshold float64, pr Profile) Result {
	f := corpus.File{Values: make([]float64, len(scores))}
	p := prepare([]corpus.File{f}, [][]float64{scores}, map[string][]Window{f.Key(): windows})
	r := breakdown(&p, []corpus.File{f}, threshold, "", pr).Files[0]
	r.Key = key
	return r
}
