package main

import (
	"math"
	"sort"
)

// Profile is a NAB cost profile.
type Profile struct {
	Name          string
	ATP, AFP, AFN float64
}

var profiles = []Profile{
	{"standard", 1, 0.11, 1},
	{"reward_low_FP_rate", 1, 0.22, 1},
	{"reward_low_FN_rate", 1, 0.11, 2},
}

func sigma(x float64) float64 {
	if x > 3 {
		return -1
	}
	return 2/(1+math.Exp(5*x)) - 1
}

// rowInfo is the unweighted value of one scorable row if it were a
// detection: win >= 0 means inside window win (u is the scaled sigmoid
// divided by sigma(-1)); win < 0 means a false positive worth u (negative).
type rowInfo struct {
	win int
	u   float64
}

// rowInfos computes the value of every row of f (rows in probation get
// win = -2 and are skipped by the scorer).
func rowInfos(f *File) []rowInfo {
	n := len(f.Ts)
	p := min(int(math.Floor(0.15*float64(n))), 750)
	out := make([]rowInfo, n)
	s1 := sigma(-1)
	prevR, prevW := -1, 0
	wi := 0
	for i := 0; i < n; i++ {
		inWin := -1
		for wi < len(f.Windows) && i > f.Windows[wi][1] {
			prevR = f.Windows[wi][1]
			prevW = f.Windows[wi][1] - f.Windows[wi][0] + 1
			wi++
		}
		if wi < len(f.Windows) && i >= f.Windows[wi][0] {
			inWin = wi
		}
		var ri rowInfo
		if inWin >= 0 {
			w := f.Windows[inWin]
			width := float64(w[1] - w[0] + 1)
			x := -float64(w[1]-i+1) / width
			ri = rowInfo{win: inWin, u: sigma(x) / s1}
		} else if prevR < 0 {
			ri = rowInfo{win: -1, u: -1}
		} else {
			ri = rowInfo{win: -1, u: sigma(float64(i-prevR) / float64(prevW-1))}
		}
		if i < p {
			ri.win = -2
		}
		out[i] = ri
	}
	return out
}

// Outcome is a scored set of files at one threshold.
type Outcome struct {
	Threshold  float64
	Raw        float64
	Norm       float64
	TP, FP, FN int
	Windows    int
}

type entry struct {
	score float64
	win   int // global window id or -1
	u     float64
}

// fileScores holds a file's row infos and detector scores.
type fileScores struct {
	f      *File
	info   []rowInfo
	scores []float64
}

func collect(fs []*fileScores) ([]entry, int) {
	var es []entry
	base := 0
	for _, x := range fs {
		for i, ri := range x.info {
			if ri.win == -2 {
				continue
			}
			e := entry{score: x.scores[i], win: -1, u: ri.u}
			if ri.win >= 0 {
				e.win = base + ri.win
			}
			es = append(es, e)
		}
		base += len(x.f.Windows)
	}
	return es, base
}

// sweep finds the threshold with the best corpus score for profile p.
func sweep(fs []*fileScores, p Profile) Outcome {
	es, nw := collect(fs)
	sort.Slice(es, func(i, j int) bool { return es[i].score > es[j].score })
	best := make([]float64, nw)
	for i := range best {
		best[i] = math.Inf(-1)
	}
	total := -p.AFN * float64(nw)
	out := Outcome{Threshold: 1.1, Raw: total}
	for i := 0; i < len(es); {
		j := i
		for j < len(es) && es[j].score == es[i].score {
			e := es[j]
			if e.win >= 0 {
				if math.IsInf(best[e.win], -1) {
					total += p.AFN + p.ATP*e.u
					best[e.win] = e.u
				} else if e.u > best[e.win] {
					total += p.ATP * (e.u - best[e.win])
					best[e.win] = e.u
				}
			} else {
				total += p.AFP * e.u
			}
			j++
		}
		if total > out.Raw {
			out.Raw, out.Threshold = total, es[i].score
		}
		i = j
	}
	return scoreAt(fs, p, out.Threshold)
}

// scoreAt scores the files at threshold t.
func scoreAt(fs []*fileScores, p Profile, t float64) Outcome {
	out := Outcome{Threshold: t}
	for _, x := range fs {
		nw := len(x.f.Windows)
		best := make([]float64, nw)
		hit := make([]bool, nw)
		for i, ri := range x.info {
			if ri.win == -2 || x.scores[i] < t {
				continue
			}
			if ri.win >= 0 {
				if !hit[ri.win] || ri.u > best[ri.win] {
					best[ri.win] = ri.u
				}
				hit[ri.win] = true
			} else {
				out.Raw += p.AFP * ri.u
				out.FP++
			}
		}
		for w := range nw {
			if hit[w] {
				out.Raw += p.ATP * best[w]
				out.TP++
			} else {
				out.Raw -= p.AFN
				out.FN++
			}
		}
		out.Windows += nw
	}
	null := -p.AFN * float64(out.Windows)
	perfect := p.ATP * float64(out.Windows)
	out.Norm = 100 * (out.Raw - null) / (perfect - null)
	return out
}
