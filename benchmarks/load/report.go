package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
)

// target is one figure of the scale goals, judged on this run.
type target struct {
	Name     string
	Measured string
	Status   string // "met", "not met", or "not measured (...)"
}

// The scale goals of the service on a 2-core machine.
const (
	goalJSONPointsPerSec = 1.5e6
	goalRSSPerSeries     = 700
	goalDetectP99Ms      = 2.0
	goal10MRSS           = 6 << 30
)

func judge(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// targets judges the run against the goals. A goal stated at a size (1 M,
// 10 M series) is judged only on a run of at least that size.
func targets(r *report) []target {
	var ts []target
	js := r.phase("steady " + formatJSON)
	size := func(n int) string {
		return fmt.Sprintf("not measured (run has %d series, the goal is at %d)", r.Series, n)
	}
	{
		t := target{Name: ">= 1.5 M points/s over HTTP JSON at 1 M series, steady state"}
		switch {
		case js == nil:
			t.Measured, t.Status = "-", "not measured (no steady json phase)"
		default:
			t.Measured = fmt.Sprintf("%.2f M points/s", js.PointsPerSec/1e6)
			t.Status = judge(js.PointsPerSec >= goalJSONPointsPerSec)
			if r.Series < 1_000_000 {
				t.Status = size(1_000_000)
			}
		}
		ts = append(ts, t)
	}
	{
		per := float64(r.RSS) / float64(r.Series)
		t := target{Name: "<= 700 B of RSS per series at 1 M and 10 M series", Measured: fmt.Sprintf("%.0f B/series (%.2f GiB at the end)", per, float64(r.RSS)/(1<<30))}
		t.Status = judge(per <= goalRSSPerSeries)
		if r.Series < 1_000_000 {
			t.Status = size(1_000_000)
		}
		ts = append(ts, t)
	}
	{
		t := target{Name: "detect p99 < 2 ms during JSON ingest"}
		switch {
		case js == nil || js.Probes == 0:
			t.Measured, t.Status = "-", "not measured (no verdict reads during steady json)"
		default:
			t.Measured = fmt.Sprintf("p99 %.2f ms (p50 %.2f, p999 %.2f, %d reads)", js.P99, js.P50, js.P999, js.Probes)
			t.Status = judge(js.P99 < goalDetectP99Ms)
			if f := r.phase(phaseFloor); f != nil && f.Probes > 0 {
				t.Measured += fmt.Sprintf("; a trivial server on this machine: p99 %.2f ms", f.P99)
				if !(f.P99 < goalDetectP99Ms) && t.Status != "met" {
					t.Status = "not met; the machine's own floor is above the goal"
				}
			}
		}
		ts = append(ts, t)
	}
	{
		t := target{Name: "10 M series within 6 GiB (peak RSS)", Measured: fmt.Sprintf("peak %.2f GiB", float64(r.PeakRSS)/(1<<30))}
		t.Status = judge(r.PeakRSS <= goal10MRSS)
		if r.Series < 10_000_000 {
			t.Status = size(10_000_000)
		}
		ts = append(ts, t)
	}
	return ts
}

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// printReport prints the phases and the targets as Markdown tables, ready
// to paste into the README.
func printReport(out io.Writer, r *report) {
	fmt.Fprintf(out, "\n%d series, server GOMAXPROCS from %d cores; harness CPU is counted apart (cli) and shares the machine.\n\n", r.Series, runtime.NumCPU())
	fmt.Fprintln(out, "| phase | rounds | points/s | server µs/pt | server cores | client µs/pt | client cores | RSS B/series | detect p50 ms | p99 ms | p999 ms | 429s |")
	fmt.Fprintln(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range r.Phases {
		if p.Rounds == 0 {
			fmt.Fprintf(out, "| %s | 0 | - | - | - | - | - | - | %s | %s | %s | - |\n", p.Name, ms(p.P50), ms(p.P99), ms(p.P999))
			continue
		}
		fmt.Fprintf(out, "| %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f | %.0f | %s | %s | %s | %d |\n",
			p.Name, p.Rounds, p.PointsPerSec, p.ServerCPUUs, p.ServerCores, p.ClientCPUUs, p.ClientCores, p.RSSPerSeries,
			ms(p.P50), ms(p.P99), ms(p.P999), p.Retries)
	}
	fmt.Fprintf(out, "\npeak RSS %.2f GiB, RSS at the end %.2f GiB (%.0f B/series)\n\n", float64(r.PeakRSS)/(1<<30), float64(r.RSS)/(1<<30), float64(r.RSS)/float64(r.Series))
	fmt.Fprintln(out, "| target | measured | status |")
	fmt.Fprintln(out, "|---|---|---|")
	for _, t := range r.Targets {
		fmt.Fprintf(out, "| %s | %s | %s |\n", t.Name, t.Measured, t.Status)
	}
}
