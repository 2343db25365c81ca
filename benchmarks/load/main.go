// Command load drives the real detector binary over HTTP and reports what a
// user sizing a deployment wants to know: points per second, server CPU per
// point, resident memory per live series, and the latency of verdict reads
// (GET /api/v1/detect) while the ingest runs, for each wire format.
//
//	go run ./benchmarks/load -series 1000000 -points 10 -conns 4
//
// A run has a learning phase, an idle one (verdict reads with no ingest,
// then the same reads of a trivial server: the machine's floor, floor.go),
// then a steady-state phase per format. Every
// round sends one point to each of -series series (keys shaped like
// play_starts{title,device,bitrate}), one minute of series time after the
// previous round, in batches of -batch points over -conns connections,
// each connection owning a fixed range of series so that every series'
// points arrive in order. The first -learn rounds (JSON; the model judges a
// series from its MinPoints-th point, 32 by default) create the series and
// teach them; then -points rounds in each of -formats (json: POST
// /api/v1/points, line: POST /api/v2/write, remote_write: POST
// /api/v1/write) measure the steady state on the same series.
//
// Bodies are encoded once and patched in place each round (timestamps and
// values sit at fixed offsets), so the client's CPU goes into sending; the
// harness measures its own CPU and reports it next to the server's. By
// default it builds ./cmd/detector, starts it on 127.0.0.1 with no data
// directory and stops it at the end; -bin runs a built binary, -url drives
// a running service instead (then -pid gives the process to measure).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anomalyd/detector/internal/procstat"
)

type options struct {
	series, learn, points, conns, batch int
	formats                             []string
	url, bin                            string
	pid                                 int
	serverArgs                          string
	probeEvery, idle                    time.Duration
	maxRSS                              int64 // stop the run when the service's RSS passes it; 0: 90% of MemAvailable, <0: none
	quiet                               bool  // no per-round lines
}

func main() {
	var o options
	var fm string
	flag.IntVar(&o.series, "series", 100_000, "live series N (up to 10,000,000 and more, memory allowing)")
	flag.IntVar(&o.learn, "learn", 32, "learning rounds (JSON) before the steady state; at least the model's MinPoints")
	flag.IntVar(&o.points, "points", 10, "steady-state rounds M per format; each sends one point to every series")
	flag.StringVar(&fm, "formats", strings.Join(formats, ","), "steady-state formats, in order: json, line, remote_write")
	flag.IntVar(&o.conns, "conns", 4, "concurrent ingest connections C")
	flag.IntVar(&o.batch, "batch", 5000, "points per request")
	flag.StringVar(&o.url, "url", "", "a running service to drive instead of starting one (e.g. http://127.0.0.1:8080)")
	flag.IntVar(&o.pid, "pid", 0, "with -url: the service's process id, for CPU and memory figures")
	flag.StringVar(&o.bin, "bin", "", "the detector binary to start (default: go build ./cmd/detector)")
	flag.StringVar(&o.serverArgs, "server-args", "", "extra flags for the service the harness starts, space-separated")
	flag.DurationVar(&o.probeEvery, "probe-every", 5*time.Millisecond, "pause between verdict reads of the latency probe")
	flag.DurationVar(&o.idle, "idle", 2*time.Second, "verdict reads without ingest after the learning phase, for comparison (0: none)")
	flag.Int64Var(&o.maxRSS, "max-rss", 0, "stop the run when the service's RSS passes this many bytes (0: 90% of the memory available at the start; -1: never)")
	flag.BoolVar(&o.quiet, "quiet", false, "print the phase and target summaries only")
	flag.Parse()
	for _, f := range strings.Split(fm, ",") {
		if f = strings.TrimSpace(f); f != "" {
			o.formats = append(o.formats, f)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// phase is the summary of the rounds of one phase.
type phase struct {
	Name, Format string
	Rounds       int
	Points       int64
	Seconds      float64
	PointsPerSec float64 // Points / Seconds
	ServerCPUUs  float64 // server CPU per point, microseconds
	ClientCPUUs  float64 // harness CPU per point, microseconds
	ClientCores  float64 // harness CPU / wall time
	ServerCores  float64 // server CPU / wall time
	RSSPerSeries float64 // at the end of the phase
	P50, P99     float64 // detect latency during the phase, ms
	P999         float64
	Probes       int   // verdict reads measured
	Retries      int64 // 429 answers retried
}

// report is what a run measured.
type report struct {
	Series  int
	Phases  []phase
	PeakRSS int64 // the server's VmHWM at the end
	RSS     int64 // the server's VmRSS at the end
	Targets []target
}

func (r *report) phase(name string) *phase {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

func run(ctx context.Context, o options, out io.Writer) (*report, error) {
	if o.series < 1 || o.learn < 1 || o.points < 0 || o.conns < 1 || o.batch < 1 {
		return nil, errors.New("-series, -learn, -conns and -batch must be at least 1, -points at least 0")
	}
	encs := map[string]encoder{}
	for _, f := range append([]string{formatJSON}, o.formats...) {
		e, err := newEncoder(f)
		if err != nil {
			return nil, err
		}
		encs[f] = e
	}
	base, pid := o.url, o.pid
	if base == "" {
		srv, err := startService(ctx, o)
		if err != nil {
			return nil, err
		}
		defer srv.stop()
		base, pid = srv.base, srv.cmd.Process.Pid
	}
	if pid == 0 {
		return nil, errors.New("-url needs -pid: the harness measures the service's CPU and memory from /proc")
	}
	if o.maxRSS == 0 {
		o.maxRSS = memAvailable() * 9 / 10
	}
	if o.maxRSS > 0 {
		// Stop the run before the service takes the machine's memory.
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		go watchRSS(ctx, cancel, pid, o.maxRSS)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conns + 2, DisableCompression: true}, Timeout: 2 * time.Minute}
	probeClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2, DisableCompression: true}, Timeout: time.Minute}
	probeURLs := makeProbeURLs(base, o.series)

	fmt.Fprintf(out, "series %d, learn %d rounds (json), steady %d rounds each of %s, conns %d, batch %d, target %s\n",
		o.series, o.learn, o.points, strings.Join(o.formats, ","), o.conns, o.batch, base)
	if !o.quiet {
		fmt.Fprintf(out, "%-22s %5s %10s %8s %12s %10s %10s %10s %8s %8s %8s %7s\n",
			"phase", "round", "points", "seconds", "points/s", "srv_us/pt", "cli_us/pt", "rss_B/ser", "p50_ms", "p99_ms", "p999_ms", "retries")
	}
	total := o.learn + o.points*len(o.formats)
	startTs := time.Now().Add(-time.Duration(total+1) * time.Minute).Unix()
	rep := &report{Series: o.series}
	round := 0
	runPhase := func(name, format string, rounds int) error {
		enc := encs[format]
		bodies := buildBodies(enc, o)
		ph := phase{Name: name, Format: format}
		var lat []time.Duration
		var srvCPU, cliCPU time.Duration
		for k := 0; k < rounds; k++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s0, _ := procstat.CPUTime(pid)
			c0, _ := procstat.CPUTime(os.Getpid())
			p := startProbe(ctx, probeClient, probeURLs, round > 0, o.probeEvery)
			t0 := time.Now()
			retries, err := sendRound(ctx, client, base, enc, bodies, startTs+int64(round)*60, round, o)
			el := time.Since(t0)
			rl := p.stop()
			if err != nil {
				if c := context.Cause(ctx); c != nil && c != ctx.Err() {
					err = c
				}
				return fmt.Errorf("%s round %d: %w", name, k+1, err)
			}
			s1, _ := procstat.CPUTime(pid)
			c1, _ := procstat.CPUTime(os.Getpid())
			rss, _ := procstat.RSS(pid)
			ph.Rounds++
			ph.Points += int64(o.series)
			ph.Seconds += el.Seconds()
			ph.Retries += retries
			ph.RSSPerSeries = float64(rss) / float64(o.series)
			srvCPU += s1 - s0
			cliCPU += c1 - c0
			lat = append(lat, rl...)
			if !o.quiet {
				fmt.Fprintf(out, "%-22s %5d %10d %8.2f %12.0f %10.2f %10.2f %10.0f %8.2f %8.2f %8.2f %7d\n",
					name, round+1, o.series, el.Seconds(), float64(o.series)/el.Seconds(),
					us(s1-s0)/float64(o.series), us(c1-c0)/float64(o.series), float64(rss)/float64(o.series),
					pct(rl, 0.5), pct(rl, 0.99), pct(rl, 0.999), retries)
			}
			round++
		}
		ph.PointsPerSec = float64(ph.Points) / ph.Seconds
		ph.ServerCPUUs = us(srvCPU) / float64(ph.Points)
		ph.ClientCPUUs = us(cliCPU) / float64(ph.Points)
		ph.ServerCores = srvCPU.Seconds() / ph.Seconds
		ph.ClientCores = cliCPU.Seconds() / ph.Seconds
		ph.P50, ph.P99, ph.P999, ph.Probes = pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999), len(lat)
		rep.Phases = append(rep.Phases, ph)
		if o.quiet {
			fmt.Fprintf(out, "%s: %d rounds, %.0f points/s, detect p99 %s ms\n", name, ph.Rounds, ph.PointsPerSec, ms(ph.P99))
		}
		return nil
	}
	if err := runPhase("learning (json)", formatJSON, o.learn); err != nil {
		return rep, err
	}
	if o.idle > 0 {
		// Verdict reads with no ingest: the baseline the reads during
		// ingest compare with.
		p := startProbe(ctx, probeClient, probeURLs, true, o.probeEvery)
		select {
		case <-time.After(o.idle):
		case <-ctx.Done():
		}
		lat := p.stop()
		rep.Phases = append(rep.Phases, phase{Name: phaseIdle, Seconds: o.idle.Seconds(),
			P50: pct(lat, 0.5), P99: pct(lat, 0.99), P999: pct(lat, 0.999), Probes: len(lat)})
		// The same reads of a trivial server of the harness's own: what
		// the machine gives any HTTP answer, which no service beats.
		lat, err := machineFloor(ctx, o.idle, o.probeEvery)
		if err != nil {
			return rep, err
		}
		rep.Phases = append(rep.Phases, phase{Name: phaseFloor, Seconds: o.idle.Seconds(),
			P50: pct(lat, 0.5), P99: pct(lat, 0.99), P999: pct(lat, 0.999), Probes: len(lat)})
	}
	for _, f := range o.formats {
		if err := runPhase("steady "+f, f, o.points); err != nil {
			return rep, err
		}
	}
	rep.RSS, _ = procstat.RSS(pid)
	rep.PeakRSS, _ = procstat.PeakRSS(pid)
	rep.Targets = targets(rep)
	printReport(out, rep)
	return rep, nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// buildBodies encodes the batches of every connection once.
func buildBodies(enc encoder, o options) [][]*body {
	out := make([][]*body, o.conns)
	var wg sync.WaitGroup
	for w := range out {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			lo, hi := o.series*w/o.conns, o.series*(w+1)/o.conns
			for start := lo; start < hi; start += o.batch {
				out[w] = append(out[w], enc.build(start, min(start+o.batch, hi)))
			}
		}(w)
	}
	wg.Wait()
	return out
}

// sendRound sends one point of every series: each connection patches its
// bodies for the round and sends them one after the other.
func sendRound(ctx context.Context, c *http.Client, base string, enc encoder, bodies [][]*body, ts int64, r int, o options) (int64, error) {
	path, header := enc.request()
	var retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.conns)
	for w := range bodies {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for _, b := range bodies[w] {
				enc.patch(b, ts, r)
				payload := b.raw
				if b.wire != nil {
					payload = b.wire
				}
				n, err := post(ctx, c, base+path, header, payload, len(b.at))
				retries.Add(n)
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	return retries.Load(), <-errs
}

// post sends one batch, retrying while the service answers 429 (after a
// short pause, not the Retry-After: the harness measures capacity), and
// checks that every point was accepted. It returns the retries.
func post(ctx context.Context, c *http.Client, u string, header http.Header, payload []byte, n int) (int64, error) {
	var retries int64
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(payload))
		if err != nil {
			return retries, err
		}
		req.Header = header
		resp, err := c.Do(req)
		if err != nil {
			return retries, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 5000 {
			retries++
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return retries, ctx.Err()
			}
			continue
		}
		switch {
		case resp.StatusCode == http.StatusNoContent: // line protocol, remote write: all taken
			return retries, nil
		case resp.StatusCode != http.StatusOK:
			return retries, fmt.Errorf("POST %s: %s: %.300s", u, resp.Status, b)
		case !bytes.Contains(b, []byte(`"accepted":`+strconv.Itoa(n)+`,`)):
			return retries, fmt.Errorf("POST %s: not every point accepted: %.300s", u, b)
		}
		return retries, nil
	}
}

// makeProbeURLs returns detect URLs of up to 4096 random series, built once.
func makeProbeURLs(base string, n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	urls := make([]string, min(n, 4096))
	for i := range urls {
		urls[i] = base + "/api/v1/detect?series=" + url.QueryEscape(seriesKey(rng.IntN(n)))
	}
	return urls
}

// The phases of verdict reads without ingest.
const (
	phaseIdle  = "idle (no ingest)"
	phaseFloor = "machine floor (trivial server)"
)

// probe reads verdicts of random series, one at a time on its own
// connection, while a round runs.
type probe struct {
	cancel context.CancelFunc
	done   chan []time.Duration
}

func startProbe(ctx context.Context, c *http.Client, urls []string, on bool, pause time.Duration) *probe {
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel, done: make(chan []time.Duration, 1)}
	go func() {
		var lat []time.Duration
		for i := 0; on && ctx.Err() == nil; i++ {
			t0 := time.Now()
			resp, err := c.Get(urls[i%len(urls)])
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && ctx.Err() == nil {
					lat = append(lat, time.Since(t0))
				}
			}
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
		}
		p.done <- lat
	}()
	return p
}

func (p *probe) stop() []time.Duration { p.cancel(); return <-p.done }

// pct returns the q-quantile of ds in milliseconds, NaN when empty.
func pct(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	slices.Sort(ds)
	return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))]) / float64(time.Millisecond)
}

// watchRSS cancels the run when process pid's RSS passes limit.
func watchRSS(ctx context.Context, cancel context.CancelCauseFunc, pid int, limit int64) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if rss, err := procstat.RSS(pid); err == nil && rss > limit {
			cancel(fmt.Errorf("the service's RSS reached %.2f GiB, over -max-rss %.2f GiB: run stopped", float64(rss)/(1<<30), float64(limit)/(1<<30)))
			return
		}
	}
}

// memAvailable returns the machine's MemAvailable in bytes, -1 when
// unknown.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

type service struct {
	cmd  *exec.Cmd
	base string
	dir  string
}

// startService builds the binary (unless -bin names one) and starts it on
// a free loopback port.
func startService(ctx context.Context, o options) (*service, error) {
	dir, err := os.MkdirTemp("", "detector-load-")
	if err != nil {
		return nil, err
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "detector")
		if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/detector").CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("go build ./cmd/detector (run from the repository root): %v\n%s", err, b)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"serve", "--listen", addr, "--data-dir", "", "--log-level", "warn",
		"--max-series", strconv.Itoa(o.series + o.series/10 + 1000)}
	args = append(args, strings.Fields(o.serverArgs)...)
	s := &service{cmd: exec.Command(bin, args...), base: "http://" + addr, dir: dir}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("the service did not become ready within 30 s")
}

func (s *service) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(s.dir)
}
