package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestIngestNiceFlag(t *testing.T) {
	cfg, _, err := parseServe(nil, io.Discard)
	if err != nil || cfg.IngestNice != 0 {
		t.Fatalf("default --ingest-nice = %d, %v; want 0", cfg.IngestNice, err)
	}
	if cfg, _, err = parseServe([]string{"--ingest-nice", "10"}, io.Discard); err != nil || cfg.IngestNice != 10 {
		t.Fatalf("--ingest-nice 10 = %d, %v", cfg.IngestNice, err)
	}
	if cfg, _, err = parseServe([]string{"--ingest-nice", "idle"}, io.Discard); err != nil || cfg.IngestNice != ingestIdle {
		t.Fatalf("--ingest-nice idle = %d, %v; want %d", cfg.IngestNice, err, ingestIdle)
	}
	if got := (niceFlag{&cfg.IngestNice}).String(); got != "idle" {
		t.Errorf("--ingest-nice idle prints as %q", got)
	}
	for _, v := range []string{"-1", "20", "low", ""} {
		if _, _, err := parseServe([]string{"--ingest-nice", v}, io.Discard); err == nil {
			t.Errorf("--ingest-nice %q: no error", v)
		}
	}
	for _, n := range []int{-1, 21} {
		if _, err := NewMain(Config{Listen: "127.0.0.1:0", IngestNice: n}, discardLog()); err == nil {
			t.Errorf("--ingest-nice %d: no error", n)
		}
	}
}

// TestReadProcsWith: with locked ingest threads the read P comes beyond
// them, so that a P is free for reads while all of them run.
func TestReadProcsWith(t *testing.T) {
	for _, tc := range []struct{ n, locked, procs, want int }{
		{1, 0, 2, 1},       // no --ingest-nice
		{1, 3, 2, 2},       // 2 shards and 1 worker on 2 Ps
		{1, 2, 2, 1},       // as many locked threads as Ps
		{2, 5, 2, 5},       // two read Ps beyond 5 locked threads
		{1 << 20, 0, 2, 2}, // --read-procs at most doubles GOMAXPROCS
		{9, 4, 2, 4},       // doubled, plus the 2 locked threads beyond the Ps
		{0, 3, 2, 0},       // --read-procs 0 stays off
		{-1, 3, 2, 0},      // likewise
	} {
		if got := readProcsWith(tc.n, tc.locked, tc.procs); got != tc.want {
			t.Errorf("readProcsWith(%d, %d, %d) = %d, want %d", tc.n, tc.locked, tc.procs, got, tc.want)
		}
	}
}

// TestIngestPoolIdle: the workers of `--ingest-nice idle` run under
// SCHED_IDLE, the caller's thread keeps its policy.
func TestIngestPoolIdle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("per-thread priorities are set on Linux only")
	}
	before, err := idleThreads()
	if err != nil {
		t.Fatal(err)
	}
	p, err := newIngestPool(2, ingestIdle)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if n, _ := idleThreads(); n != before+2 {
		t.Errorf("%d SCHED_IDLE threads with a pool of 2, want %d", n, before+2)
	}
	for range 20 {
		var pol int
		var err error
		p.Run(func() { pol, err = threadPolicy(syscall.Gettid()) })
		if err != nil || pol != schedIdle {
			t.Fatalf("a job ran under policy %d (%v), want SCHED_IDLE (%d)", pol, err, schedIdle)
		}
	}
	runtime.LockOSThread()
	own, err := threadPolicy(syscall.Gettid())
	runtime.UnlockOSThread()
	if err != nil || own == schedIdle {
		t.Errorf("the caller's thread is under policy %d (%v): lowered too", own, err)
	}
}

// idleThreads counts the threads of this process under SCHED_IDLE.
func idleThreads() (int, error) {
	tasks, err := filepath.Glob("/proc/self/task/*")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range tasks {
		tid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if pol, err := threadPolicy(tid); err == nil && pol == schedIdle {
			n++
		}
	}
	return n, nil
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestIngestPoolThreads runs jobs on the pool: each runs on a thread of
// the pool's nice value, the caller's thread keeps its own, and a job's
// panic reaches the caller.
func TestIngestPoolThreads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("per-thread priorities are set on Linux only")
	}
	before, _, err := niceThreads(12)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newIngestPool(2, 12)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := niceThreads(12); n != before+2 {
		t.Errorf("%d threads at nice 12 with a pool of 2, want %d", n, before+2)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var got int
				var err error
				p.Run(func() { got, err = threadNice() })
				if err != nil || got != 12 {
					t.Errorf("job ran at nice %d (%v), want 12", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	runtime.LockOSThread()
	own, err := threadNice()
	runtime.UnlockOSThread()
	if err != nil || own == 12 {
		t.Errorf("the caller's thread is at nice %d (%v): lowered too", own, err)
	}
	func() {
		defer func() {
			if r := recover(); r != "job failed" {
				t.Errorf("recovered %v from a job's panic, want it raised on the caller", r)
			}
		}()
		p.Run(func() { panic("job failed") })
	}()
	var ran bool
	p.Run(func() { ran = true }) // the worker survived the panic
	if !ran {
		t.Error("the pool runs no job after a panic")
	}
	p.Close()
	// The workers were locked to their threads for good: the threads end
	// with them instead of serving other goroutines at nice 12.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, main, _ := niceThreads(12)
		if main {
			n-- // parked for good
		}
		if n == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d threads at nice 12 after Close, want %d", n, before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIngestNiceServe runs the service with --ingest-nice: the shards'
// and the ingest workers' threads are at that nice value, and concurrent
// JSON and line-protocol ingest lose no point.
func TestIngestNiceServe(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("per-thread priorities are set on Linux only")
	}
	t.Run("nice", func(t *testing.T) {
		const nice = 11
		count := func() (int, error) { n, _, err := niceThreads(nice); return n, err }
		ingestLowered(t, nice, count)
	})
	t.Run("idle", func(t *testing.T) { ingestLowered(t, ingestIdle, idleThreads) })
}

// ingestLowered runs the service at --ingest-nice nice, checks with count
// that the shards' and the workers' threads were lowered, and ingests.
func ingestLowered(t *testing.T, nice int, count func() (int, error)) {
	before, err := count()
	if err != nil {
		t.Fatal(err)
	}
	m, base := startMainWith(t, Config{IngestNice: nice, Shards: 2})
	// 2 shards and one worker per ingest slot.
	want := before + 2 + m.ingestPoolWorkers()
	if n, _ := count(); n != want {
		t.Errorf("%d lowered threads at --ingest-nice %s, want %d (2 shards, %d ingest workers)", n, niceFlag{&nice}, want, m.ingestPoolWorkers())
	}
	if got := m.lockedIngestThreads(); got != 2+m.ingestPoolWorkers() {
		t.Errorf("lockedIngestThreads = %d, want %d", got, 2+m.ingestPoolWorkers())
	}

	const (
		conns     = 4
		perConn   = 50 // series of a connection
		rounds    = 20
		lineConns = 2
	)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				pts := make([]point, 0, perConn)
				for s := range perConn {
					pts = append(pts, point{
						Series:    fmt.Sprintf(`nice_json{conn="%d",s="%d"}`, c, s),
						Timestamp: t0.Add(time.Duration(r) * time.Minute).Format(time.RFC3339),
						Value:     float64(100 + (r*7+s)%13),
					})
				}
				var res struct{ Accepted, Rejected int }
				if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, &res); code != http.StatusOK || res.Accepted != perConn {
					t.Errorf("conn %d round %d: %d, accepted %d of %d", c, r, code, res.Accepted, perConn)
					return
				}
			}
		}()
	}
	for c := range lineConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				var b strings.Builder
				ts := t0.Add(time.Duration(r) * time.Minute).UnixMilli()
				for s := range perConn {
					fmt.Fprintf(&b, "nice_line,conn=%d,s=%d v=%d %d\n", c, s, 100+(r*5+s)%11, ts)
				}
				resp, err := http.Post(base+"/write?db=x&precision=ms", "text/plain", strings.NewReader(b.String()))
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("line conn %d round %d: %d", c, r, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	last := t0.Add((rounds - 1) * time.Minute)
	check := func(series string) {
		var v struct{ Timestamp time.Time }
		if code := getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(series), &v); code != http.StatusOK || !v.Timestamp.Equal(last) {
			t.Errorf("%s: %d, last point %v, want %v", series, code, v.Timestamp, last)
		}
	}
	for c := range conns {
		for s := range perConn {
			check(fmt.Sprintf(`nice_json{conn="%d",s="%d"}`, c, s))
		}
	}
	for c := range lineConns {
		for s := range perConn {
			check(fmt.Sprintf(`nice_line_v{conn="%d",s="%d"}`, c, s))
		}
	}
	if got := m.engine.Stats().Series; got != (conns+lineConns)*perConn {
		t.Errorf("%d live series, want %d", got, (conns+lineConns)*perConn)
	}
}

// niceThreads counts the threads of this process at nice value nice, and
// says whether the main thread is one of them: a goroutine locked to the
// main thread that ends leaves it parked for good rather than ending it
// (runtime.mexit), so it may stay at a pool's priority, running nothing.
func niceThreads(nice int) (n int, main bool, err error) {
	tasks, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		return 0, false, err
	}
	mainStat := fmt.Sprintf("/proc/self/task/%d/stat", os.Getpid())
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		// Field 19 is the nice value; the command (field 2) is in
		// parentheses and may hold spaces.
		rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
		fields := strings.Fields(rest)
		if v, err := strconv.Atoi(fields[16]); err == nil && v == nice {
			n++
			main = main || f == mainStat
		}
	}
	return n, main, nil
}
