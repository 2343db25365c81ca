package score

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
)

// Values used below, worked out by hand with σ(x) = 2/(1+e^(5x)) - 1 = -tanh(2.5x):
//
//	σ(-1)   = tanh(2.5)  = 0.98661429815143   (maxTP)
//	σ(-0.8) = tanh(2)    = 0.96402758007582   -> /maxTP = 0.97710684092260
//	σ(-0.5) = tanh(1.25) = 0.84828363995053   -> /maxTP = 0.85979256690978
//	σ(-10/16) = tanh(1.5625) = 0.91581... -> /maxTP = 0.92824981949349
//	σ(-0.1) = tanh(0.25) = 0.24491866240371   -> /maxTP = 0.24824154977543
//	σ(1/9)  = -tanh(0.27778) = -0.27084711851672 -> ·0.11 = -0.02979318303684
//	σ(1/3)  = -tanh(0.83333) = -0.68226179023818 -> ·0.11 = -0.07504879692620
//	σ(6/19) = -tanh(0.78947) = -0.65811077602574 -> ·0.11 = -0.07239218536283
//	σ(1)    = -tanh(2.5) = -0.98661429815143  -> ·0.11 = -0.10852757279666
//	σ(2)    = -tanh(5)   = -0.99990920426260  -> ·0.11 = -0.10999001246889
//	σ(x) = -1 for x >= 3 -> ·0.11 = -0.11
const (
	tpLeft   = 1.0
	tpX08    = 0.9771068409226045
	tpMid    = 0.8597925669097837
	tpX1016  = 0.9282498194934905
	tpRight  = 0.24824154977542992
	fpNinth  = -0.029793183036839352
	fpThird  = -0.07504879692619866
	fp6of19  = -0.07239218536283094
	fpOne    = -0.10852757279666
	fpTwo    = -0.10999001246888546
	fpFar    = -0.11
	tolerant = 1e-12
)

var std = StandardProfiles()[Standard]

func near(a, b float64) bool { return math.Abs(a-b) <= tolerant }

// detect returns n scores, 1 at the given rows and 0 elsewhere.
func detect(n int, rows ...int) []float64 {
	s := make([]float64, n)
	for _, r := range rows {
		s[r] = 1
	}
	return s
}

func mkFile(cat, name string, n int) corpus.File {
	return corpus.File{Category: cat, Name: name, Values: make([]float64, n)}
}

func TestProbation(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{0, 0}, {6, 0}, {7, 1}, {20, 3}, {100, 15}, {1127, 169}, {4033, 604}, {5000, 750}, {10320, 750},
	} {
		if got := Probation(c.n); got != c.want {
			t.Errorf("Probation(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}

func TestScaledSigmoid(t *testing.T) {
	for _, c := range []struct{ x, want float64 }{
		{-1, 0.98661429815143}, {-0.5, 0.84828363995053}, {0, 0}, {1, -0.98661429815143},
		{2.9, -0.999998991305}, {3, -1}, {10, -1},
	} {
		if got := ScaledSigmoid(c.x); math.Abs(got-c.want) > 1e-8 {
			t.Errorf("ScaledSigmoid(%g) = %.14f, want %.14f", c.x, got, c.want)
		}
	}
}

// One file of 100 rows: probation P = floor(15) = 15, one window [40, 49]
// (W = 10). A row i in the window sits at x = -(49-i+1)/10; a false
// positive after it at (i-49)/9 window widths.
func TestFileScoreOneWindow(t *testing.T) {
	win := []Window{{L: 40, R: 49}}
	cases := []struct {
		name       string
		rows       []int
		pr         Profile
		raw        float64
		tp, fn, fp int
	}{
		// Nothing detected: the window is missed, -A_FN.
		{"nothing", nil, std, -1, 0, 1, 0},
		// Left edge: x = -10/10 = -1, earns the full A_TP.
		{"left edge", []int{40}, std, tpLeft, 1, 0, 0},
		// Middle: x = -(49-45+1)/10 = -0.5.
		{"middle", []int{45}, std, tpMid, 1, 0, 0},
		// Right edge: x = -1/10.
		{"right edge", []int{49}, std, tpRight, 1, 0, 0},
		// Only the earliest detection in a window counts: 42 (x = -0.8) wins over 45.
		{"two in window", []int{45, 42}, std, tpX08, 1, 0, 0},
		// Just after: FP at (50-49)/9 = 1/9, plus the missed window.
		{"just after", []int{50}, std, -1 + fpNinth, 0, 1, 1},
		// One width after: (58-49)/9 = 1.
		{"one width after", []int{58}, std, -1 + fpOne, 0, 1, 1},
		// Exactly 3 widths after, (76-49)/9 = 3: NAB takes σ = -1 there.
		{"three widths after", []int{76}, std, -1 + fpFar, 0, 1, 1},
		// Far after: (90-49)/9 = 4.6 widths: -A_FP.
		{"far after", []int{90}, std, -1 + fpFar, 0, 1, 1},
		// Before any window (after probation): -A_FP.
		{"before any window", []int{20}, std, -1 + fpFar, 0, 1, 1},
		// First scored row, 15, is a false positive; 14 is in probation.
		{"first scored row", []int{15}, std, -1 + fpFar, 0, 1, 1},
		{"last probation row", []int{14}, std, -1, 0, 1, 0},
		{"probation", []int{3, 10}, std, -1, 0, 1, 0},
		// A hit and a far false positive.
		{"hit and far FP", []int{45, 90}, std, tpMid + fpFar, 1, 0, 1},
		// Profiles: low FP doubles the FP cost, low FN doubles the miss.
		{"low FP before window", []int{20}, StandardProfiles()[LowFP], -1 - 0.22, 0, 1, 1},
		{"low FN nothing", nil, StandardProfiles()[LowFN], -2, 0, 1, 0},
		{"low FN middle", []int{45}, StandardProfiles()[LowFN], tpMid, 1, 0, 0},
	}
	for _, c := range cases {
		r := FileScore("f", detect(100, c.rows...), win, 1, c.pr)
		if !near(r.Raw, c.raw) || r.TP != c.tp || r.FN != c.fn || r.FP != c.fp {
			t.Errorf("%s: FileScore(rows %v) = raw %.14f TP %d FN %d FP %d, want raw %.14f TP %d FN %d FP %d",
				c.name, c.rows, r.Raw, r.TP, r.FN, r.FP, c.raw, c.tp, c.fn, c.fp)
		}
	}
}

// One file of 200 rows: P = 30, windows [50, 59] (W = 10) and [120, 139]
// (W = 20). False positives count from the window that ended last before them.
func TestFileScoreSeveralWindows(t *testing.T) {
	win := []Window{{L: 50, R: 59}, {L: 120, R: 139}}
	cases := []struct {
		name       string
		rows       []int
		raw        float64
		tp, fn, fp int
	}{
		{"nothing", nil, -2, 0, 2, 0},
		// 55: x = -(59-55+1)/10 = -0.5; 120 is the second window's left edge.
		{"both hit", []int{55, 120}, tpMid + tpLeft, 2, 0, 0},
		// 62: (62-59)/9 = 1/3 past the first window.
		{"after first", []int{62}, -2 + fpThird, 0, 2, 1},
		// 100: (100-59)/9 = 4.6 past the first window.
		{"between, far", []int{100}, -2 + fpFar, 0, 2, 1},
		// 145: (145-139)/19 = 6/19 past the second window (not the first).
		{"after second", []int{145}, -2 + fp6of19, 0, 2, 1},
		{"before both", []int{40}, -2 + fpFar, 0, 2, 1},
		{"probation", []int{25}, -2, 0, 2, 0},
		{"all of it", []int{25, 40, 55, 62, 120, 145}, tpMid + tpLeft + fpFar + fpThird + fp6of19, 2, 0, 3},
	}
	for _, c := range cases {
		r := FileScore("f", detect(200, c.rows...), win, 1, std)
		if !near(r.Raw, c.raw) || r.TP != c.tp || r.FN != c.fn || r.FP != c.fp || r.Windows != 2 {
			t.Errorf("%s: FileScore(rows %v) = raw %.14f TP %d FN %d FP %d windows %d, want raw %.14f TP %d FN %d FP %d windows 2",
				c.name, c.rows, r.Raw, r.TP, r.FN, r.FP, r.Windows, c.raw, c.tp, c.fn, c.fp)
		}
	}
}

// Windows touching probation (N = 100, P = 15): a window [10, 25] is scored
// on its rows from 15 on, at positions computed on its full width 16; a
// window [2, 8] entirely in probation is not scored, but false positives
// still count from its right edge.
func TestFileScoreProbationWindows(t *testing.T) {
	cases := []struct {
		name       string
		win        []Window
		rows       []int
		raw        float64
		tp, fn, fp int
		windows    int
	}{
		{"straddling, detection in probation", []Window{{L: 10, R: 25}}, []int{12}, -1, 0, 1, 0, 1},
		// 16: x = -(25-16+1)/16 = -10/16.
		{"straddling, detection after", []Window{{L: 10, R: 25}}, []int{16}, tpX1016, 1, 0, 0, 1},
		{"inside probation, nothing", []Window{{L: 2, R: 8}}, nil, 0, 0, 0, 0, 0},
		// 20: (20-8)/6 = 2 widths past the unscored window.
		{"inside probation, FP after", []Window{{L: 2, R: 8}}, []int{20}, fpTwo, 0, 0, 1, 0},
	}
	for _, c := range cases {
		r := FileScore("f", detect(100, c.rows...), c.win, 1, std)
		if !near(r.Raw, c.raw) || r.TP != c.tp || r.FN != c.fn || r.FP != c.fp || r.Windows != c.windows {
			t.Errorf("%s: FileScore(rows %v) = raw %.14f TP %d FN %d FP %d windows %d, want raw %.14f TP %d FN %d FP %d windows %d",
				c.name, c.rows, r.Raw, r.TP, r.FN, r.FP, r.Windows, c.raw, c.tp, c.fn, c.fp, c.windows)
		}
	}
}

// A file without windows: every scored detection costs -A_FP.
func TestFileScoreNoWindows(t *testing.T) {
	for _, c := range []struct {
		rows []int
		raw  float64
		fp   int
	}{
		{nil, 0, 0}, {[]int{10}, 0, 0}, {[]int{20, 50}, 2 * fpFar, 2}, {[]int{10, 15, 99}, 2 * fpFar, 2},
	} {
		r := FileScore("f", detect(100, c.rows...), nil, 1, std)
		if !near(r.Raw, c.raw) || r.FP != c.fp || r.TP != 0 || r.FN != 0 {
			t.Errorf("FileScore(rows %v, no window) = raw %.14f FP %d TP %d FN %d, want raw %.14f FP %d TP 0 FN 0",
				c.rows, r.Raw, r.FP, r.TP, r.FN, c.raw, c.fp)
		}
	}
}

// The threshold is a score: a row is a detection when its score >= threshold.
func TestFileScoreThreshold(t *testing.T) {
	s := make([]float64, 100)
	s[42], s[45] = 0.5, 0.7
	win := []Window{{L: 40, R: 49}}
	for _, c := range []struct {
		t, raw float64
	}{{0.8, -1}, {0.7, tpMid}, {0.6, tpMid}, {0.5, tpX08}} {
		if r := FileScore("f", s, win, c.t, std); !near(r.Raw, c.raw) {
			t.Errorf("FileScore(threshold %g) = %.14f, want %.14f", c.t, r.Raw, c.raw)
		}
	}
}

// tieFile: N = 100, P = 15, window [40, 49]; scores 0.9 at 45, 0.8 at 42 and
// at 20 (two rows with equal scores), 0.6 at 47, 0 elsewhere.
//
// Standard profile, total by threshold:
//
//	1.1: -1 (window missed)
//	0.9: tpMid                          = 0.85979256690978
//	0.8: tpX08 + fpFar (both 0.8 rows)  = 0.86710684092260
//	0.6: 47 is later than 42: no change = 0.86710684092260 (tie: the higher 0.8 is kept)
//	0:   every scored row: 1 - 0.11·25 (rows 15..39) - Σ FP after the window, far below.
//
// Low FP (A_FP = 0.22): 0.8 gives 0.97710684 - 0.22 = 0.75710684 < 0.85979257, so 0.9 wins.
// Low FN (A_FN = 2): as standard, 0.8 wins with 0.86710684.
func tieFile() (corpus.File, []float64, []Window) {
	s := make([]float64, 100)
	s[45], s[42], s[20], s[47] = 0.9, 0.8, 0.8, 0.6
	return mkFile("a", "tie", 100), s, []Window{{L: 40, R: 49}}
}

func TestEvaluateTies(t *testing.T) {
	f, s, w := tieFile()
	rep := Evaluate([]corpus.File{f}, [][]float64{s}, map[string][]Window{f.Key(): w}, StandardProfiles())
	for _, c := range []struct {
		profile          string
		threshold, raw   float64
		score            float64
		tp, fn, fp, wins int
	}{
		// score = 100·(raw + 1)/(1 + 1)
		{Standard, 0.8, tpX08 + fpFar, 100 * (tpX08 + fpFar + 1) / 2, 1, 0, 1, 1},
		{LowFP, 0.9, tpMid, 100 * (tpMid + 1) / 2, 1, 0, 0, 1},
		// score = 100·(raw + 2)/(1 + 2)
		{LowFN, 0.8, tpX08 + fpFar, 100 * (tpX08 + fpFar + 2) / 3, 1, 0, 1, 1},
	} {
		p, ok := rep.Profile(c.profile)
		if !ok {
			t.Fatalf("profile %s missing", c.profile)
		}
		if p.Threshold != c.threshold || !near(p.Raw, c.raw) || !near(p.Score, c.score) ||
			p.Total.TP != c.tp || p.Total.FN != c.fn || p.Total.FP != c.fp || p.Total.Windows != c.wins {
			t.Errorf("%s: Evaluate = threshold %g raw %.14f score %.10f TP %d FN %d FP %d, want threshold %g raw %.14f score %.10f TP %d FN %d FP %d",
				c.profile, p.Threshold, p.Raw, p.Score, p.Total.TP, p.Total.FN, p.Total.FP,
				c.threshold, c.raw, c.score, c.tp, c.fn, c.fp)
		}
	}
}

// The threshold is chosen over the whole set of files: adding a file
// without windows whose only non-zero score, 0.8 at row 30, equals the tie
// file's 0.8 makes 0.8 cost a second false positive:
// 0.97710684 - 0.22 = 0.75710684 < 0.85979257, so standard moves to 0.9.
func TestEvaluateCorpusWideThreshold(t *testing.T) {
	f, s, w := tieFile()
	g := mkFile("b", "quiet", 100)
	gs := make([]float64, 100)
	gs[30] = 0.8
	files := []corpus.File{f, g}
	rep := Evaluate(files, [][]float64{s, gs}, map[string][]Window{f.Key(): w, g.Key(): nil}, StandardProfiles())
	p, _ := rep.Profile(Standard)
	if p.Threshold != 0.9 || !near(p.Raw, tpMid) {
		t.Fatalf("Evaluate(tie + quiet) standard = threshold %g raw %.14f, want threshold 0.9 raw %.14f", p.Threshold, p.Raw, tpMid)
	}
	if got := p.Files[0]; got.Key != "a/tie.csv" || !near(got.Raw, tpMid) || got.TP != 1 || got.FP != 0 {
		t.Errorf("file a/tie.csv = %+v, want raw %.14f TP 1 FP 0", got, tpMid)
	}
	if got := p.Files[1]; got.Key != "b/quiet.csv" || got.Raw != 0 || got.FP != 0 || got.Windows != 0 {
		t.Errorf("file b/quiet.csv = %+v, want raw 0 FP 0 windows 0", got)
	}
	if len(p.Categories) != 2 || p.Categories[0].Key != "a" || p.Categories[1].Key != "b" {
		t.Errorf("categories = %+v, want a then b", p.Categories)
	}
	if rep.Windows != 1 || rep.Rows != 200 || rep.Scorable != 170 {
		t.Errorf("report windows %d rows %d scorable %d, want 1, 200, 170", rep.Windows, rep.Rows, rep.Scorable)
	}
}

// refCorpus: files with one window, two windows, none, and a window that
// straddles probation.
func refCorpus() ([]corpus.File, map[string][]Window) {
	files := []corpus.File{mkFile("x", "one", 100), mkFile("x", "two", 200), mkFile("y", "none", 100), mkFile("y", "edge", 100)}
	w := map[string][]Window{
		"x/one.csv":  {{L: 40, R: 49}},
		"x/two.csv":  {{L: 50, R: 59}, {L: 120, R: 139}},
		"y/none.csv": nil,
		"y/edge.csv": {{L: 20, R: 35}, {L: 80, R: 90}},
	}
	return files, w
}

// The null detector (a constant score) scores 0 and the perfect detector
// (a detection at each window's left edge only) 100, on every profile.
func TestEvaluateNullAndPerfect(t *testing.T) {
	files, w := refCorpus()
	null := make([][]float64, len(files))
	perfect := make([][]float64, len(files))
	for i, f := range files {
		null[i] = make([]float64, f.Len())
		for j := range null[i] {
			null[i][j] = 0.5
		}
		perfect[i] = make([]float64, f.Len())
		for _, win := range w[f.Key()] {
			perfect[i][win.L] = 1
		}
	}
	for _, c := range []struct {
		name   string
		scores [][]float64
		want   float64
		thr    float64
	}{{"null", null, 0, NoDetection}, {"perfect", perfect, 100, 1}} {
		rep := Evaluate(files, c.scores, w, StandardProfiles())
		if rep.Windows != 5 {
			t.Fatalf("%s: windows = %d, want 5", c.name, rep.Windows)
		}
		for _, p := range rep.Profiles {
			if !near(p.Score, c.want) || p.Threshold != c.thr {
				t.Errorf("%s detector, %s: score %.12f threshold %g, want %g threshold %g", c.name, p.Name, p.Score, p.Threshold, c.want, c.thr)
			}
			if want := -p.Profile.FN * 5; p.Null != want {
				t.Errorf("%s: null = %g, want %g", p.Name, p.Null, want)
			}
		}
	}
}

// The incremental sweep agrees with scoring every candidate threshold from
// scratch (FileScore per file), on random corpora with many ties.
func TestEvaluateMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		files, w := refCorpus()
		scores := make([][]float64, len(files))
		cands := map[float64]bool{NoDetection: true}
		levels := 2 + rng.IntN(20)
		for i, f := range files {
			scores[i] = make([]float64, f.Len())
			for j := range scores[i] {
				v := float64(rng.IntN(levels)) / float64(levels)
				if rng.IntN(4) > 0 {
					v = 0
				}
				scores[i][j] = v
				if j >= Probation(f.Len()) {
					cands[v] = true
				}
			}
		}
		rep := Evaluate(files, scores, w, StandardProfiles())
		for _, p := range rep.Profiles {
			bestT, bestS := 0.0, math.Inf(-1)
			for th := range cands {
				s := 0.0
				for i, f := range files {
					s += FileScore(f.Key(), scores[i], w[f.Key()], th, p.Profile).Raw
				}
				if s > bestS+1e-9 || (math.Abs(s-bestS) <= 1e-9 && th > bestT) {
					bestT, bestS = th, s
				}
			}
			if p.Threshold != bestT || math.Abs(p.Raw-bestS) > 1e-9 {
				t.Fatalf("trial %d %s: Evaluate = threshold %g raw %.12f, want threshold %g raw %.12f", trial, p.Name, p.Threshold, p.Raw, bestT, bestS)
			}
		}
	}
}

func TestReportMarkdown(t *testing.T) {
	f, s, w := tieFile()
	rep := Evaluate([]corpus.File{f}, [][]float64{s}, map[string][]Window{f.Key(): w}, StandardProfiles())
	md := rep.Markdown()
	for _, want := range []string{"| standard | 93.4 | 0.8 |", "| reward_low_FP_rate | 93.0 | 0.9 |", "## reward_low_FN_rate", "| a/tie.csv | 1 |", "| a | 1 | 1 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown() lacks %q:\n%s", want, md)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			per := 5000
			var files []corpus.File
			var scores [][]float64
			w := map[string][]Window{}
			for i := 0; i < n/per; i++ {
				f := mkFile("c", string(rune('a'+i%26))+string(rune('a'+i/26)), per)
				files = append(files, f)
				s := make([]float64, per)
				for j := range s {
					s[j] = rng.Float64()
				}
				scores = append(scores, s)
				w[f.Key()] = []Window{{L: 1000, R: 1249}, {L: 3000, R: 3249}}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				Evaluate(files, scores, w, StandardProfiles())
			}
		})
	}
}

func TestThresholdText(t *testing.T) {
	for _, c := range []struct {
		in   float64
		want string
	}{{0.5, "0.5"}, {0.98735012, "0.98735"}, {1, "1"}, {0.9999999999997738, "0.9999999999997738"}} {
		if got := ThresholdText(c.in); got != c.want {
			t.Errorf("ThresholdText(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}
