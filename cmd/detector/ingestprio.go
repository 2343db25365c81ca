package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"

	"github.com/anomalyd/detector/api"
)

// Reads before ingest, by the kernel's priorities.
//
// Under full ingest both cores run the CPU-heavy work of ingest: decoding
// a batch (the API's handler) and applying it to the baselines (the shard
// goroutines). A verdict read's goroutine then runs on a thread the kernel
// schedules like theirs, so the read waits for a core behind them, for
// milliseconds at a time (docs/operations.md, "Reads under full ingest").
//
// With --ingest-nice N (1-19) that work runs on threads of nice value N,
// with --ingest-nice idle on threads of the SCHED_IDLE policy, which a
// waking thread of a normal policy always preempts:
// each shard goroutine and each of a small fixed pool of ingest workers is
// locked to an OS thread of its own for good (runtime.LockOSThread, never
// undone: the thread ends with the goroutine and never runs another one)
// and lowers that thread's priority (setpriority on its thread id). An
// ingest request's handler receives the body on its own goroutine, takes
// its ingest slot (api/admission.go), then hands the decoding and applying
// to a worker and waits (api.Deps.IngestRun). Everything else (network
// poller, reads, answers, GC workers) runs on threads of the process's own
// priority, which the kernel lets preempt the ingest threads as soon as
// they wake: a nice-0 thread weighs 1024 against 110 at nice 10 and 15 at
// nice 19.
//
// The threads Go creates later are started by the runtime's template
// thread when the creator is locked (runtime.newm), so they do not inherit
// the lowered priority. A thread's priority cannot be raised again without
// CAP_SYS_NICE, which is why the threads are dedicated.
//
// Priority inversion: a read never waits for a shard's batch lock (the
// read path, series/readpath.go); it may wait for the stripe lock a shard
// holds for one point's update, or for a series creation. While it waits
// it sleeps, and the shard thread holding the lock gets the core unless
// other threads of normal priority keep every core busy. A goroutine
// locked to the main thread that ends leaves that thread parked for good
// (the runtime does not end the main thread): it runs nothing more.
//
// Each locked goroutine holds a P while it runs, so the read P of
// --read-procs comes beyond the locked threads (readProcsWith).
//
// The flag is off by default. With idle, on the quiet 2-core machine, the
// detect p99 during ingest was lower in six of seven paired runs, the
// points/s 0.93-1.12 times the default's, and the tail stayed above the
// machine's own (docs/operations.md). On the shared 2-core machine, 1 M series
// over HTTP JSON, --ingest-nice 10 lowered the median detect p99 during
// ingest (11.4 against 13.6 ms) and its worst runs (20.8 against 46.5
// ms), while its throughput and CPU per point against main's ranged from
// 0.61 to 1.48 and 0.91 to 1.32 times (medians 1.01 and 1.04): the Go
// scheduler hands the P over whenever a locked goroutine blocks or wakes,
// and whether that stays within the few percent ingest may lose is for a
// quiet machine to say (docs/operations.md, "Reads under full ingest:
// ingest at a lower kernel priority").

// ingestPool runs the decoding and applying of ingest requests on n
// goroutines, each locked to an OS thread of lowered priority. Run is safe
// for concurrent use; Close stops the workers.
type ingestPool struct {
	n    int // workers
	jobs chan *ingestJob
	wg   sync.WaitGroup
	once sync.Once
}

type ingestJob struct {
	f        func()
	done     chan struct{}
	panicked any
}

var ingestJobs = sync.Pool{New: func() any { return &ingestJob{done: make(chan struct{}, 1)} }}

// newIngestPool starts n workers (at least 1) on threads of nice value
// nice. It fails when the priority cannot be set.
func newIngestPool(n, nice int) (*ingestPool, error) {
	n = max(n, 1)
	p := &ingestPool{n: n, jobs: make(chan *ingestJob)}
	errs := make(chan error, n)
	for range n {
		p.wg.Add(1)
		go p.work(nice, errs)
	}
	var err error
	for range n {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *ingestPool) work(nice int, errs chan<- error) {
	defer p.wg.Done()
	err := lowerThread(nice)
	errs <- err
	if err != nil {
		return
	}
	for j := range p.jobs {
		j.run()
	}
}

func (j *ingestJob) run() {
	defer func() {
		j.panicked = recover()
		j.done <- struct{}{}
	}()
	j.f()
}

// Run runs f on a worker and returns when it has returned. A panic of f
// is raised again on the caller's goroutine (the HTTP server's recovery
// answers it there).
func (p *ingestPool) Run(f func()) {
	j := ingestJobs.Get().(*ingestJob)
	j.f = f
	p.jobs <- j
	<-j.done
	pv := j.panicked
	j.f, j.panicked = nil, nil
	ingestJobs.Put(j)
	if pv != nil {
		panic(pv)
	}
}

// Close stops the workers once the jobs being run are done. Run must not
// be called after Close. A nil pool does nothing.
func (p *ingestPool) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.jobs) })
	p.wg.Wait()
}

// ingestPoolWorkers returns the number of ingest workers (0 without
// --ingest-nice).
func (m *Main) ingestPoolWorkers() int {
	if m.ingestPool == nil {
		return 0
	}
	return m.ingestPool.n
}

// runner returns the api.Deps.IngestRun of the pool: nil for a nil pool.
func (p *ingestPool) runner() func(func()) {
	if p == nil {
		return nil
	}
	return p.Run
}

// startIngestPool starts the ingest workers of --ingest-nice, one per
// ingest slot (GOMAXPROCS with ingest admission off): admission lets no
// more requests decode at once.
func (m *Main) startIngestPool() error {
	if m.cfg.IngestNice == 0 {
		return nil
	}
	n := m.cfg.API.Admission.Slots
	if n == 0 {
		n = api.DefaultAdmissionConfig().Slots
	} else if n < 0 {
		n = runtime.GOMAXPROCS(0)
	}
	p, err := newIngestPool(n, m.cfg.IngestNice)
	if err != nil {
		return fmt.Errorf("--ingest-nice: %w", err)
	}
	m.ingestPool = p
	m.log.Info("ingest decodes and applies on threads of lower priority", "nice", niceFlag{&m.cfg.IngestNice}.String(), "workers", n)
	return nil
}

// shardThread returns the series.Options.ShardThread of --ingest-nice:
// it locks the shard goroutine to its thread and lowers the thread's
// priority, logging a failure once.
func shardThread(nice int, log *slog.Logger) func() {
	var once sync.Once
	return func() {
		if err := lowerThread(nice); err != nil {
			once.Do(func() { log.Warn("shard threads keep the normal priority", "err", err) })
		}
	}
}

// ingestIdle is the Config.IngestNice of `--ingest-nice idle`: the
// threads run under Linux's SCHED_IDLE policy instead of a nice value.
const ingestIdle = 20

// checkNice checks a --ingest-nice value.
func checkNice(nice int) error {
	if nice < 1 || nice > ingestIdle {
		return fmt.Errorf("--ingest-nice %d: want 1-19 or idle, or 0 for none", nice)
	}
	return nil
}

// lowerThread locks the calling goroutine to its OS thread for good and
// sets the thread's nice value, or its policy to SCHED_IDLE.
func lowerThread(nice int) error {
	if err := checkNice(nice); err != nil {
		return err
	}
	runtime.LockOSThread()
	if nice == ingestIdle {
		return setThreadIdle()
	}
	return setThreadNice(nice)
}

// niceFlag is the flag.Value of --ingest-nice: 0-19, or "idle".
type niceFlag struct{ p *int }

func (f niceFlag) String() string {
	if f.p == nil {
		return "0"
	}
	if *f.p == ingestIdle {
		return "idle"
	}
	return strconv.Itoa(*f.p)
}

func (f niceFlag) Set(s string) error {
	if s == "idle" {
		*f.p = ingestIdle
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 19 {
		return fmt.Errorf("want 0-19 or idle, not %q", s)
	}
	*f.p = n
	return nil
}

// lockedIngestThreads returns how many goroutines --ingest-nice locks to
// threads of their own: the shards and the ingest workers (0 without it).
func (m *Main) lockedIngestThreads() int {
	if m.cfg.IngestNice == 0 {
		return 0
	}
	return len(m.engine.Stats().Shards) + m.ingestPoolWorkers()
}

// readProcsWith returns the Ps to add for reads (readprocs.go): n
// (--read-procs), at most procs (GOMAXPROCS at most doubled), plus, when
// locked ingest threads run on the process's procs Ps, those beyond
// procs. With --ingest-nice the shards and the ingest workers each hold a
// P while they run, and on two cores they are three (four with two
// ingest slots), so the read Ps come beyond them; otherwise a read would
// wait for a P while the kernel runs a read's thread at once. n <= 0
// (--read-procs 0) adds none.
func readProcsWith(n, locked, procs int) int {
	if n <= 0 {
		return 0
	}
	return min(n, procs) + max(0, locked-procs)
}
