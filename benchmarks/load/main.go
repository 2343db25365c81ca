// Command load drives the real detector binary over HTTP and reports what a
// user sizing a deployment wants to know: points per second, server CPU per
// point, resident memory per live series, and the latency of verdict reads
// (GET /api/v1/detect) while the ingest runs.
//
//	go run ./benchmarks/load -series 1000000 -rounds 60 -conns 4
//
// Every round sends one point to each of -series series (keys shaped like
// play_starts{title,device,bitrate}), one minute of series time after the
// previous round, in batches of -batch points over -conns connections.
// Round 1 creates the series; the model judges a series from its
// MinPoints-th point on (48 by default), so rounds after that measure the
// steady state. By default the harness builds ./cmd/detector, starts it on
// 127.0.0.1 with no data directory and stops it at the end; -url points it
// at a running service instead (then -pid gives the process to measure).
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
	series, rounds, conns, batch int
	url                          string
	pid                          int
	serverArgs                   string
	probeEvery                   time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.series, "series", 100_000, "live series")
	flag.IntVar(&o.rounds, "rounds", 60, "rounds; each sends one point to every series")
	flag.IntVar(&o.conns, "conns", 4, "concurrent connections")
	flag.IntVar(&o.batch, "batch", 5000, "points per request")
	flag.StringVar(&o.url, "url", "", "a running service to drive instead of starting one (e.g. http://127.0.0.1:8080)")
	flag.IntVar(&o.pid, "pid", 0, "with -url: the service's process id, for CPU and memory figures")
	flag.StringVar(&o.serverArgs, "server-args", "", "extra flags for the service the harness starts, space-separated")
	flag.DurationVar(&o.probeEvery, "probe-every", 10*time.Millisecond, "pause between verdict reads of the latency probe")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.series < 1 || o.rounds < 1 || o.conns < 1 || o.batch < 1 {
		return errors.New("-series, -rounds, -conns and -batch must be at least 1")
	}
	base, pid := o.url, o.pid
	if base == "" {
		srv, err := startService(ctx, o)
		if err != nil {
			return err
		}
		defer srv.stop()
		base, pid = srv.base, srv.cmd.Process.Pid
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.conns + 2}, Timeout: 2 * time.Minute}
	keys := makeKeys(o.series)
	fmt.Fprintf(out, "series %d, rounds %d, conns %d, batch %d, target %s\n", o.series, o.rounds, o.conns, o.batch, base)
	fmt.Fprintf(out, "%5s %12s %10s %12s %10s %10s %9s %9s %9s %8s\n",
		"round", "points", "seconds", "points/s", "cpu_us/pt", "rss_B/ser", "p50_ms", "p99_ms", "p999_ms", "retries")
	startTs := time.Now().Add(-time.Duration(o.rounds+1) * time.Minute).Unix()
	var steady []float64
	for r := 0; r < o.rounds; r++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cpu0, _ := procstat.CPUTime(pid)
		probe := startProbe(ctx, client, base, keys, r > 0, o.probeEvery)
		t0 := time.Now()
		retries, err := sendRound(ctx, client, base, keys, startTs+int64(r)*60, r, o)
		el := time.Since(t0)
		lat := probe.stop()
		if err != nil {
			return fmt.Errorf("round %d: %w", r+1, err)
		}
		cpu1, _ := procstat.CPUTime(pid)
		rss, _ := procstat.RSS(pid)
		pps := float64(o.series) / el.Seconds()
		if r >= 48 {
			steady = append(steady, pps)
		}
		fmt.Fprintf(out, "%5d %12d %10.2f %12.0f %10.2f %10.0f %9.2f %9.2f %9.2f %8d\n",
			r+1, o.series, el.Seconds(), pps, float64(cpu1-cpu0)/float64(time.Microsecond)/float64(o.series),
			float64(rss)/float64(o.series), pct(lat, 0.5), pct(lat, 0.99), pct(lat, 0.999), retries)
	}
	if len(steady) > 0 {
		slices.Sort(steady)
		fmt.Fprintf(out, "steady state (rounds 49+): median %.0f points/s\n", steady[len(steady)/2])
	}
	return nil
}

// makeKeys returns n series keys shaped like a streaming service's
// play-start counters, already quoted for a JSON string.
func makeKeys(n int) [][]byte {
	devices := []string{"tv_sony", "tv_samsung", "web_chrome", "web_safari", "ios_phone", "android_phone", "console_ps5", "stick_roku"}
	bitrates := []int{235, 750, 1750, 3000, 5800}
	keys := make([][]byte, n)
	per := len(devices) * len(bitrates)
	for i := range keys {
		k := fmt.Sprintf(`play_starts{title="%d",device="%s",bitrate="%d"}`, 80000+i/per, devices[i%len(devices)], bitrates[(i/len(devices))%len(bitrates)])
		keys[i] = strconv.AppendQuote(nil, k)
	}
	return keys
}

// value is the harness's healthy series: a daily cycle plus noise.
func value(i, r int) float64 {
	phase := 2 * math.Pi * float64(r%1440) / 1440
	return math.Round((100+float64(i%50)+20*math.Sin(phase+float64(i%7)))*10+float64((i*31+r*17)%21)) / 10
}

// sendRound sends one point of every series, split over the connections by
// series so that each series' points stay in timestamp order.
func sendRound(ctx context.Context, c *http.Client, base string, keys [][]byte, ts int64, r int, o options) (int64, error) {
	var retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.conns)
	for w := 0; w < o.conns; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var body []byte
			lo, hi := len(keys)*w/o.conns, len(keys)*(w+1)/o.conns
			for start := lo; start < hi; start += o.batch {
				end := min(start+o.batch, hi)
				body = appendBody(body[:0], keys, start, end, ts, r)
				n, err := post(ctx, c, base+"/api/v1/points", body, end-start)
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

func appendBody(dst []byte, keys [][]byte, lo, hi int, ts int64, r int) []byte {
	dst = append(dst, `{"points":[`...)
	for i := lo; i < hi; i++ {
		if i > lo {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"series":`...)
		dst = append(dst, keys[i]...)
		dst = append(dst, `,"timestamp":`...)
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, `,"value":`...)
		dst = strconv.AppendFloat(dst, value(i, r), 'f', -1, 64)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}

// post sends one batch, retrying while the service answers 429, and
// checks that every point was accepted. It returns the retries.
func post(ctx context.Context, c *http.Client, u string, body []byte, n int) (int64, error) {
	var retries int64
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if err != nil {
			return retries, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return retries, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 1000 {
			retries++
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return retries, ctx.Err()
			}
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return retries, fmt.Errorf("POST: %s: %.300s", resp.Status, b)
		}
		if !bytes.Contains(b, []byte(`"accepted":`+strconv.Itoa(n)+`,`)) {
			return retries, fmt.Errorf("POST: not every point accepted: %.300s", b)
		}
		return retries, nil
	}
}

// probe reads verdicts of random series back to back while a round runs.
type probe struct {
	cancel context.CancelFunc
	done   chan []time.Duration
}

func startProbe(ctx context.Context, c *http.Client, base string, keys [][]byte, on bool, pause time.Duration) *probe {
	ctx, cancel := context.WithCancel(ctx)
	p := &probe{cancel: cancel, done: make(chan []time.Duration, 1)}
	go func() {
		var lat []time.Duration
		rng := rand.New(rand.NewPCG(1, 2))
		for on && ctx.Err() == nil {
			k, _ := strconv.Unquote(string(keys[rng.IntN(len(keys))]))
			t0 := time.Now()
			resp, err := c.Get(base + "/api/v1/detect?series=" + url.QueryEscape(k))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
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

type service struct {
	cmd  *exec.Cmd
	base string
	dir  string
}

// startService builds the binary and starts it on a free loopback port.
func startService(ctx context.Context, o options) (*service, error) {
	dir, err := os.MkdirTemp("", "detector-load-")
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "detector")
	if b, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/detector").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/detector (run from the repository root): %v\n%s", err, b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"serve", "--listen", addr, "--data-dir", "", "--max-series", strconv.Itoa(o.series + o.series/10 + 1000)}
	args = append(args, strings.Fields(o.serverArgs)...)
	s := &service{cmd: exec.Command(bin, args...), base: "http://" + addr, dir: dir}
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; i < 400; i++ {
		if resp, err := http.Get(s.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, errors.New("the service did not become ready within 20 s")
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
