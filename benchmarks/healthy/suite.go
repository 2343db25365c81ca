package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

// Options set the size of a suite run.
type Options struct {
	Seeds   int // series per shape (and per shape and incident kind)
	Days    int // length of every series
	Learn   int // days at the start that are not judged (the learning week)
	Units   float64
	Workers int
	// NoData, when > 0, emulates the engine's no-data sweep
	// (--no-data-after): a gap longer than NoData times the series' step
	// opens an anomaly NoData steps after the last point.
	NoData float64
}

// Full is the published size; Small runs in CI.
var (
	Full  = Options{Seeds: 20, Days: 35, Learn: 7, Units: 10}
	Small = Options{Seeds: 2, Days: 21, Learn: 7, Units: 10}
)

// ShapeResult holds the figures of one healthy shape.
type ShapeResult struct {
	Shape        synth.Shape
	Series       int
	SeriesMonths float64
	FalseAlarms  int // anomalies opened on clean series after the learning week
}

// IncidentResult holds the figures of one incident kind.
type IncidentResult struct {
	Kind     synth.IncidentKind
	Injected int
	Found    int
	Delays   []time.Duration // from the incident's start to the anomaly's opening
	ByShape  map[synth.Shape][2]int
}

// Report is the outcome of a suite run.
type Report struct {
	Opts      Options
	Shapes    []ShapeResult
	Incidents []IncidentResult
	Points    int
	Elapsed   time.Duration
}

const day = 86_400_000

// opens runs a fresh model over s and returns the timestamps of the points
// that opened an anomaly.
func opens(c *models.Config, s synth.Series, noData float64) []int64 {
	var m models.Model
	var out []int64
	for i, ts := range s.Ts {
		if noData > 0 && i > 0 && m.Cadenced(c) {
			if due := s.Ts[i-1] + int64(noData*m.StepMs()); ts > due {
				out = append(out, due)
			}
		}
		if r := m.Update(c, ts, s.Values[i]); r.Transition == models.TransitionOpened {
			out = append(out, ts)
			if Why != nil {
				Why(s, i, r)
			}
		}
	}
	return out
}

// Why, when set, is called for every opened anomaly (diagnostics).
var Why func(s synth.Series, i int, r models.Result)

// Run measures c on the healthy suite.
func Run(c models.Config, o Options) Report {
	start := time.Now()
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	type job struct {
		shape synth.Shape
		seed  uint64
	}
	type res struct {
		job
		points int
		fa     int
		months float64
		found  map[synth.IncidentKind]bool
		delay  map[synth.IncidentKind]time.Duration
	}
	jobs := make(chan job)
	results := make(chan res)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				s, unit, _ := synth.Healthy{Shape: j.shape, Days: o.Days, Seed: j.seed}.Gen()
				learnEnd := synth.DefaultStart + int64(o.Learn)*day
				r := res{job: j, points: len(s.Ts), found: map[synth.IncidentKind]bool{}, delay: map[synth.IncidentKind]time.Duration{}}
				for _, ts := range opens(&c, s, o.NoData) {
					if ts >= learnEnd {
						r.fa++
					}
				}
				r.months = float64(o.Days-o.Learn) / 30
				rng := rand.New(rand.NewPCG(j.seed, 99))
				for _, k := range synth.Incidents {
					// somewhere in the second half, at a random time of day
					at := synth.DefaultStart + int64(o.Days/2)*day + rng.Int64N(int64(o.Days-o.Days/2-2)*day)
					inj, inc := synth.Inject(s, unit, k, at, o.Units)
					r.points += len(inj.Ts)
					// Found: an anomaly opened while the incident lasts (a
					// spike or dip: within 15 minutes; a drop: up to an hour
					// after data comes back, for a model that only sees
					// points).
					until := inc.EndMs
					switch k {
					case synth.IncidentSpike, synth.IncidentDip:
						until = inc.StartMs + 15*60_000
					case synth.IncidentDrop:
						until = inc.EndMs + 3_600_000
					}
					for _, ts := range opens(&c, inj, o.NoData) {
						if ts >= inc.StartMs && ts < until {
							r.found[k] = true
							r.delay[k] = time.Duration(ts-inc.StartMs) * time.Millisecond
							break
						}
					}
				}
				results <- r
			}
		}()
	}
	go func() {
		for _, sh := range synth.Shapes {
			for seed := range uint64(o.Seeds) {
				jobs <- job{sh, seed + 1000}
			}
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	shapes := map[synth.Shape]*ShapeResult{}
	incs := map[synth.IncidentKind]*IncidentResult{}
	rep := Report{Opts: o}
	for r := range results {
		rep.Points += r.points
		sr := shapes[r.shape]
		if sr == nil {
			sr = &ShapeResult{Shape: r.shape}
			shapes[r.shape] = sr
		}
		sr.Series++
		sr.SeriesMonths += r.months
		sr.FalseAlarms += r.fa
		for _, k := range synth.Incidents {
			ir := incs[k]
			if ir == nil {
				ir = &IncidentResult{Kind: k, ByShape: map[synth.Shape][2]int{}}
				incs[k] = ir
			}
			ir.Injected++
			bs := ir.ByShape[r.shape]
			bs[1]++
			if r.found[k] {
				ir.Found++
				bs[0]++
				ir.Delays = append(ir.Delays, r.delay[k])
			}
			ir.ByShape[r.shape] = bs
		}
	}
	for _, sh := range synth.Shapes {
		rep.Shapes = append(rep.Shapes, *shapes[sh])
	}
	for _, k := range synth.Incidents {
		ir := incs[k]
		slices.Sort(ir.Delays)
		rep.Incidents = append(rep.Incidents, *ir)
	}
	rep.Elapsed = time.Since(start)
	return rep
}

// FalseAlarmRate returns false alarms per series-month over all shapes.
func (r *Report) FalseAlarmRate() float64 {
	fa, months := 0, 0.0
	for _, s := range r.Shapes {
		fa += s.FalseAlarms
		months += s.SeriesMonths
	}
	return float64(fa) / months
}

// Recall returns the share of injected incidents found, all kinds but
// those listed in except.
func (r *Report) Recall(except ...synth.IncidentKind) float64 {
	found, n := 0, 0
	for _, i := range r.Incidents {
		if slices.Contains(except, i.Kind) {
			continue
		}
		found += i.Found
		n += i.Injected
	}
	return float64(found) / float64(n)
}

func median(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	return d[len(d)/2].String()
}

// Markdown writes the report as tables.
func (r *Report) Markdown(w io.Writer) {
	o := r.Opts
	fmt.Fprintf(w, "%d shapes x %d seeds, %d days each (first %d not judged), incidents of %g noise units; %d points in %v\n\n",
		len(r.Shapes), o.Seeds, o.Days, o.Learn, o.Units, r.Points, r.Elapsed.Round(time.Millisecond))
	if o.NoData > 0 {
		fmt.Fprintf(w, "No-data sweep emulated: a gap of more than %g steps is an anomaly.\n\n", o.NoData)
	}
	fmt.Fprintf(w, "False alarms per series-month: **%.3f**; recall of spikes, dips, shifts and stuck values: **%.2f**; with dropped data: %.2f\n\n",
		r.FalseAlarmRate(), r.Recall(synth.IncidentDrop), r.Recall())
	fmt.Fprintln(w, "| shape | series | false alarms | per series-month |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: |")
	for _, s := range r.Shapes {
		fmt.Fprintf(w, "| %s | %d | %d | %.3f |\n", s.Shape, s.Series, s.FalseAlarms, float64(s.FalseAlarms)/s.SeriesMonths)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| incident | injected | found | recall | median delay | missed on |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, i := range r.Incidents {
		var missed []string
		for sh, c := range i.ByShape {
			if c[0] < c[1] {
				missed = append(missed, fmt.Sprintf("%s %d/%d", sh, c[1]-c[0], c[1]))
			}
		}
		sort.Strings(missed)
		fmt.Fprintf(w, "| %s | %d | %d | %.2f | %s | %s |\n", i.Kind, i.Injected, i.Found,
			float64(i.Found)/float64(i.Injected), median(i.Delays), strings.Join(missed, ", "))
	}
}
