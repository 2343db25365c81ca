package peers

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// evalResult is one rule's latest evaluation.
type evalResult struct {
	at          time.Time
	windowStart time.Time
	step        time.Duration
	groups      []groupSnap
	byKey       map[string]int
}

// groupSnap is a group's members as they were when evaluated and the
// outcome, index for index.
type groupSnap struct {
	key     string
	members []memberRef
	out     groupOut
}

type staleRef struct{ group, member int }

// Evaluate judges every group of every rule over the window that ends with
// the last step completed at now (step buckets are aligned to the Unix
// epoch), stores the results for Results, opens, updates and resolves
// outlier events, and forgets members that sent nothing for two windows.
// It returns the results of the groups that have at least one outlier
// (Results has all). Ingest is not stopped: each member's window is copied
// under its shard's lock. Evaluations run one at a time; the groups of a
// rule are judged by Options.Workers goroutines. On cancellation it stops
// early, returns ctx's error and keeps the previous results of the rule it
// was judging.
func (s *Store) Evaluate(ctx context.Context, now time.Time) ([]GroupResult, error) {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	began := time.Now()
	rs := s.snap.Load()
	var flagged []GroupResult
	var judged, skipped, outliers int
	for _, r := range rs.rules {
		res, err := s.evaluateRule(ctx, r, now)
		if err != nil {
			return flagged, err
		}
		r.latest.Store(res)
		s.events(r, res)
		for gi := range res.groups {
			g := &res.groups[gi].out
			if g.skipped != "" {
				skipped++
				continue
			}
			judged++
			if n := len(g.reasons); n > 0 {
				outliers += n
				flagged = append(flagged, res.groupResult(r, gi))
			}
		}
	}
	s.m.evaluated(time.Since(began), judged, skipped, outliers)
	return flagged, nil
}

func (s *Store) evaluateRule(ctx context.Context, r *ruleState, now time.Time) (*evalResult, error) {
	rule := r.c.rule
	w := rule.Window
	stepMs := rule.Step.Milliseconds()
	end := floorDiv(now.UnixMilli(), stepMs) - 1
	from := end - int64(w) + 1
	res := &evalResult{at: now, windowStart: time.UnixMilli(from * stepMs).UTC(), step: rule.Step}

	r.mu.Lock()
	res.groups = make([]groupSnap, len(r.groups))
	total := 0
	for i, g := range r.groups {
		res.groups[i] = groupSnap{key: g.key, members: g.members}
		total += len(g.members)
	}
	r.mu.Unlock()

	res.byKey = make(map[string]int, len(res.groups))
	outs := make([]memberOut, total)
	off := 0
	for i := range res.groups {
		n := len(res.groups[i].members)
		res.groups[i].out.out = outs[off : off+n : off+n]
		off += n
		res.byKey[res.groups[i].key] = i
	}

	p := r.c.params()
	staleBefore := end - 2*int64(w)
	workers := min(s.workers, max(len(res.groups), 1))
	stale := make([][]staleRef, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for wk := range workers {
		wg.Go(func() {
			var a analyzer
			var buf []float64
			for ctx.Err() == nil {
				gi := int(next.Add(1) - 1)
				if gi >= len(res.groups) {
					return
				}
				gs := &res.groups[gi]
				n := len(gs.members)
				buf = growF(buf, n*w)
				for j, m := range gs.members {
					row := buf[j*w : (j+1)*w]
					sh := s.shards[m.shard]
					sh.mu.Lock()
					last := int64(empty)
					if sl := sh.slabs[r.id]; sl != nil {
						last = sl.read(m.ring, from, row)
					} else {
						for t := range row {
							row[t] = math.NaN()
						}
					}
					sh.mu.Unlock()
					if last == empty || last < staleBefore {
						stale[wk] = append(stale[wk], staleRef{gi, j})
					}
				}
				a.analyze(buf[:n*w], n, w, p, &gs.out)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.evict(r, res, slices.Concat(stale...))
	return res, nil
}

// evict forgets members whose newest value is older than two windows: it
// removes them from their groups (dropping groups left empty) and frees
// their windows. Evaluations are serialised, so the groups' order is the
// one the snapshot saw, plus appended groups and members.
func (s *Store) evict(r *ruleState, res *evalResult, stale []staleRef) {
	if len(stale) == 0 {
		return
	}
	slices.SortFunc(stale, func(a, b staleRef) int {
		if a.group != b.group {
			return a.group - b.group
		}
		return a.member - b.member
	})
	var gone []memberRef
	r.mu.Lock()
	if r.deleted.Load() {
		r.mu.Unlock()
		return
	}
	for i := 0; i < len(stale); {
		gi := stale[i].group
		g := r.groups[gi]
		drop := map[int]bool{}
		for ; i < len(stale) && stale[i].group == gi; i++ {
			drop[stale[i].member] = true
		}
		kept := make([]memberRef, 0, len(g.members)-len(drop))
		for j, m := range g.members {
			if drop[j] {
				gone = append(gone, m)
			} else {
				kept = append(kept, m)
			}
		}
		// a new slice: evaluation snapshots hold the old one
		r.groups[gi] = &group{key: g.key, members: kept}
	}
	groups := r.groups[:0:0]
	clear(r.byKey)
	for _, g := range r.groups {
		if len(g.members) > 0 {
			r.byKey[g.key] = len(groups)
			groups = append(groups, g)
		}
	}
	r.groups = groups
	r.mu.Unlock()

	for _, m := range gone {
		sh := s.shards[m.shard]
		sh.mu.Lock()
		if e, ok := sh.index[m.hash]; ok {
			n := sh.unlink(e, func(l link) bool { return l.rule == r.id && l.ring == m.ring }, true)
			s.tracked.Add(-int64(n))
			if sh.entries[e].link >= 0 {
				sh.entries[e].gen = 0 // rematch when it comes back
			}
		}
		sh.mu.Unlock()
	}
	s.m.evicted(len(gone))
}

// events opens an outlier event for each new outlier, updates the open
// ones that still are, and resolves those that no longer are (for any
// reason: back in a cluster, skipped, evicted).
func (s *Store) events(r *ruleState, res *evalResult) {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	if r.deleted.Load() {
		return
	}
	det := detector(r)
	at := res.at
	ts := res.windowStart.Add(time.Duration(r.c.rule.Window) * res.step)
	current := map[string]struct{}{}
	for gi := range res.groups {
		gs := &res.groups[gi]
		if len(gs.out.reasons) == 0 {
			continue
		}
		for j, m := range gs.members {
			o := &gs.out.out[j]
			if o.status != stOutlier {
				continue
			}
			current[m.series] = struct{}{}
			exp, lo, hi := gs.out.expected(j)
			v := anomaly.Verdict{
				Series:    m.series,
				Timestamp: ts,
				Value:     anomaly.Finite(float64(o.last)),
				Expected:  anomaly.Finite(exp),
				Lower:     anomaly.Finite(lo),
				Upper:     anomaly.Finite(hi),
				Score:     anomaly.Finite(float64(o.distance) / gs.out.eps),
				State:     anomaly.StateAnomalous,
				Detector:  det,
			}
			kind := anomaly.EventUpdated
			op, ok := r.open[m.series]
			if !ok {
				op = openOutlier{id: s.nextID(m.series), group: gs.key}
				r.open[m.series] = op
				kind = anomaly.EventOpened
			}
			v.AnomalyID = op.id
			s.record(anomaly.Event{Kind: kind, AnomalyID: op.id, AnomalyKind: anomaly.KindPeerOutlier, Series: m.series, At: at, Verdict: v})
		}
	}
	var done []string
	for k := range r.open {
		if _, ok := current[k]; !ok {
			done = append(done, k)
		}
	}
	slices.Sort(done)
	for _, k := range done {
		op := r.open[k]
		delete(r.open, k)
		v := anomaly.Verdict{Series: k, Timestamp: ts, State: anomaly.StateNormal, Detector: det}
		if gi, ok := res.byKey[op.group]; ok {
			g := &res.groups[gi]
			v.Expected, v.Lower, v.Upper = anomaly.Finite(g.out.lastMed), anomaly.Finite(g.out.lower), anomaly.Finite(g.out.upper)
			for j, m := range g.members {
				if m.series == k {
					exp, lo, hi := g.out.expected(j)
					v.Value = anomaly.Finite(float64(g.out.out[j].last))
					v.Expected, v.Lower, v.Upper = anomaly.Finite(exp), anomaly.Finite(lo), anomaly.Finite(hi)
					break
				}
			}
		}
		s.record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: op.id, AnomalyKind: anomaly.KindPeerOutlier, Series: k, At: at, Verdict: v})
	}
}

// groupResult renders group gi.
func (res *evalResult) groupResult(r *ruleState, gi int) GroupResult {
	gs := &res.groups[gi]
	g := &gs.out
	out := GroupResult{
		Rule:        r.c.rule.Name,
		Group:       gs.key,
		EvaluatedAt: res.at,
		WindowStart: res.windowStart,
		StepSeconds: res.step.Seconds(),
		Eps:         anomaly.Finite(g.eps),
		MinPts:      g.minPts,
		Scale:       g.scale,
		Outliers:    len(g.reasons),
		Skipped:     g.skipped,
		Members:     make([]MemberResult, len(gs.members)),
	}
	for j, m := range gs.members {
		out.Members[j] = memberResult(g, j, m.name, m.series)
	}
	return out
}

// Results returns the latest results: of every rule when rule is "", of
// every group of the rule(s) when group is "" (groups in the order they
// first appeared). Before the first evaluation of a rule it returns no
// group for it. Errors: *anomaly.Error with CodeNotFound for an unknown
// rule, or a group that no selected rule has.
func (s *Store) Results(rule, group string) ([]GroupResult, error) {
	rs := s.snap.Load()
	rules := rs.rules
	if rule != "" {
		r, ok := rs.byName[rule]
		if !ok {
			return nil, anomaly.Errorf(anomaly.CodeNotFound, "no rule %q", rule)
		}
		rules = []*ruleState{r}
	}
	out := []GroupResult{}
	for _, r := range rules {
		res := r.latest.Load()
		if res == nil {
			continue
		}
		if group == "" {
			for gi := range res.groups {
				out = append(out, res.groupResult(r, gi))
			}
			continue
		}
		if gi, ok := res.byKey[group]; ok {
			out = append(out, res.groupResult(r, gi))
		}
	}
	if group != "" && len(out) == 0 {
		return nil, anomaly.Errorf(anomaly.CodeNotFound, "no results for group %q", group)
	}
	return out, nil
}

// Run evaluates every interval (on the Options.Now clock) until ctx ends,
// logging failures; it returns nil when ctx is cancelled.
func (s *Store) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.Evaluate(ctx, s.now()); err != nil && ctx.Err() == nil {
				s.log.Error("peer evaluation failed", "err", err)
			}
		}
	}
}
