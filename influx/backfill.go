package influx

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	influxapi "github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/ingest"
	"github.com/anomalyd/detector/series"
)

// Ingester is the write path (api.Ingester, the service's writer). It must
// be safe for concurrent use.
type Ingester interface {
	Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error)
}

// Querier runs a Flux query: api.QueryAPI of influxdb-client-go fits.
type Querier interface {
	Query(ctx context.Context, flux string) (*influxapi.QueryTableResult, error)
}

// BackfillOptions configure a Backfiller. Zero fields take the defaults in
// their comments.
type BackfillOptions struct {
	// Query is the default Flux query; it may use v.timeRangeStart and
	// v.timeRangeStop.
	Query string
	// Range is how far back the default backfill reads; default 14 days.
	Range time.Duration
	// Batch is the number of points handed to the writer at once; default
	// 5000.
	Batch int
	// Limits are the series limits for Match (series.Parse).
	Limits series.Limits
	// Logger logs progress every ProgressEvery; default discard.
	Logger        *slog.Logger
	ProgressEvery time.Duration // default 10s
	Registerer    prometheus.Registerer
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Backfiller runs backfill jobs, one at a time, and keeps their progress.
// Safe for concurrent use.
type Backfiller struct {
	q    Querier
	w    Ingester
	o    BackfillOptions
	log  *slog.Logger
	mu   sync.Mutex
	jobs []*anomaly.BackfillStatus // newest last, at most 20
	next int
	busy chan struct{}  // one token: a job runs
	wg   sync.WaitGroup // jobs begun with Start

	points  *prometheus.CounterVec
	running prometheus.Gauge
}

// NewBackfiller returns a Backfiller reading with q and writing to w.
func NewBackfiller(q Querier, w Ingester, o BackfillOptions) (*Backfiller, error) {
	if o.Range <= 0 {
		o.Range = 14 * 24 * time.Hour
	}
	if o.Batch <= 0 {
		o.Batch = 5000
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	b := &Backfiller{q: q, w: w, o: o, log: o.Logger, busy: make(chan struct{}, 1),
		points: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_backfill_points_total",
			Help: "Records read by backfills from InfluxDB, by outcome (accepted, rejected, skipped).",
		}, []string{"outcome"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "detector_backfill_running",
			Help: "1 while a backfill from InfluxDB runs.",
		}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{b.points, b.running} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("influx: registering metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Start begins a job in the background and returns its first status; ctx
// bounds the job (pass the service's, not a request's). A job already
// running is a CodeConflict error; a bad Match is CodeInvalidArgument; no
// query at all is CodeMissingField. Wait waits for it.
func (b *Backfiller) Start(ctx context.Context, req anomaly.BackfillRequest) (anomaly.BackfillStatus, error) {
	job, run, err := b.prepare(req)
	if err != nil {
		return anomaly.BackfillStatus{}, err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		run(ctx)
	}()
	return b.status(job), nil
}

// Wait returns once the jobs begun with Start have ended.
func (b *Backfiller) Wait() { b.wg.Wait() }

// Run runs a job on the calling goroutine and returns its final status.
func (b *Backfiller) Run(ctx context.Context, req anomaly.BackfillRequest) (anomaly.BackfillStatus, error) {
	job, run, err := b.prepare(req)
	if err != nil {
		return anomaly.BackfillStatus{}, err
	}
	run(ctx)
	st := b.status(job)
	if st.State == "failed" {
		return st, fmt.Errorf("backfill: %s", st.Error)
	}
	return st, nil
}

// Jobs returns the status of the recent jobs, newest first.
func (b *Backfiller) Jobs() []anomaly.BackfillStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]anomaly.BackfillStatus, 0, len(b.jobs))
	for i := len(b.jobs) - 1; i >= 0; i-- {
		out = append(out, *b.jobs[i])
	}
	return out
}

func (b *Backfiller) status(job *anomaly.BackfillStatus) anomaly.BackfillStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return *job
}

func (b *Backfiller) prepare(req anomaly.BackfillRequest) (*anomaly.BackfillStatus, func(context.Context), error) {
	if req.Query == "" {
		req.Query = b.o.Query
	}
	if strings.TrimSpace(req.Query) == "" {
		return nil, nil, &anomaly.Error{Code: anomaly.CodeMissingField, Field: "query", Index: -1,
			Message: "no Flux query: send one or start the server with --backfill"}
	}
	if req.Range <= 0 {
		req.Range = b.o.Range
	}
	var ms series.Matchers
	if req.Match != "" {
		var err error
		if ms, err = series.ParseMatchers(req.Match); err != nil {
			return nil, nil, err
		}
	}
	select {
	case b.busy <- struct{}{}:
	default:
		return nil, nil, anomaly.Errorf(anomaly.CodeConflict, "a backfill is already running: see GET /api/v1/backfill")
	}
	now := b.o.Now().UTC()
	b.mu.Lock()
	b.next++
	job := &anomaly.BackfillStatus{ID: b.next, State: "running", Match: req.Match, Start: now.Add(-req.Range), Stop: now, StartedAt: now}
	b.jobs = append(b.jobs, job)
	if len(b.jobs) > 20 {
		b.jobs = slices.Delete(b.jobs, 0, len(b.jobs)-20)
	}
	b.mu.Unlock()
	run := func(ctx context.Context) {
		defer func() { <-b.busy }()
		b.running.Set(1)
		defer b.running.Set(0)
		err := b.run(ctx, job, req.Query, ms)
		end := b.o.Now().UTC()
		b.mu.Lock()
		job.FinishedAt = &end
		job.State = "done"
		if err != nil {
			job.State, job.Error = "failed", err.Error()
		}
		st := *job
		b.mu.Unlock()
		attrs := []any{"job", st.ID, "state", st.State, "rows", st.Rows, "series", st.Series, "accepted", st.Accepted,
			"rejected", st.Rejected, "skipped", st.Skipped, "took", end.Sub(st.StartedAt).Round(time.Millisecond)}
		if err != nil {
			b.log.Error("backfill failed", append(attrs, "error", err)...)
		} else {
			b.log.Info("backfill done", attrs...)
		}
	}
	return job, run, nil
}

// FluxPrelude defines v.timeRangeStart and v.timeRangeStop for a query, as
// the InfluxDB UI and Grafana do.
func FluxPrelude(start, stop time.Time) string {
	return fmt.Sprintf("v = {timeRangeStart: %s, timeRangeStop: %s}\n",
		start.UTC().Format(time.RFC3339Nano), stop.UTC().Format(time.RFC3339Nano))
}

// reserved are the Flux columns that are not tags.
var reserved = map[string]bool{"result": true, "table": true, "_start": true, "_stop": true, "_time": true,
	"_value": true, "_measurement": true, "_field": true}

func (b *Backfiller) run(ctx context.Context, job *anomaly.BackfillStatus, flux string, ms series.Matchers) error {
	b.log.Info("backfill started", "job", job.ID, "range_start", job.Start, "range_stop", job.Stop, "match", job.Match)
	res, err := b.q.Query(ctx, FluxPrelude(job.Start, job.Stop)+flux)
	if err != nil {
		return fmt.Errorf("flux query: %w", err)
	}
	defer res.Close()
	var (
		batch    = make([]anomaly.Sample, 0, b.o.Batch)
		seen     = map[string]bool{}
		matched  = map[string]bool{}
		tags     [][2]string
		lastLog  = time.Now()
		rows     int64
		skipped  int64
		accepted int64
		rejected int64
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		r, err := b.ingest(ctx, batch)
		if err != nil {
			return err
		}
		accepted += int64(r.Accepted)
		rejected += int64(r.Rejected)
		b.points.WithLabelValues("accepted").Add(float64(r.Accepted))
		b.points.WithLabelValues("rejected").Add(float64(r.Rejected))
		batch = batch[:0]
		b.mu.Lock()
		job.Rows, job.Series, job.Accepted, job.Rejected, job.Skipped = rows, len(seen), accepted, rejected, skipped
		b.mu.Unlock()
		if time.Since(lastLog) >= b.o.ProgressEvery {
			lastLog = time.Now()
			b.log.Info("backfill progress", "job", job.ID, "rows", rows, "series", len(seen), "accepted", accepted, "rejected", rejected)
		}
		return nil
	}
	var prevTable = -1
	var cur string
	for res.Next() {
		rec := res.Record()
		rows++
		v, ok := number(rec.Value())
		if !ok {
			skipped++
			b.points.WithLabelValues("skipped").Inc()
			continue
		}
		if rec.Table() != prevTable || res.TableChanged() {
			prevTable = rec.Table()
			tags = tags[:0]
			for k, val := range rec.Values() {
				if s, isStr := val.(string); isStr && !reserved[k] {
					tags = append(tags, [2]string{k, s})
				}
			}
			slices.SortFunc(tags, func(x, y [2]string) int { return strings.Compare(x[0], y[0]) })
			cur = ingest.SeriesName(rec.Measurement(), rec.Field(), tags)
			if ms != nil {
				if _, done := matched[cur]; !done {
					k, err := series.Parse(cur, b.o.Limits)
					matched[cur] = err == nil && ms.Matches(k)
				}
			}
		}
		if ms != nil && !matched[cur] {
			skipped++
			b.points.WithLabelValues("skipped").Inc()
			continue
		}
		seen[cur] = true
		batch = append(batch, anomaly.Sample{Series: cur, TimestampMs: rec.Time().UnixMilli(), Value: v})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("flux result: %w", err)
	}
	return flush()
}

// ingest hands one batch to the writer, waiting and retrying while it is
// overloaded: a backfill yields to live traffic.
func (b *Backfiller) ingest(ctx context.Context, batch []anomaly.Sample) (anomaly.IngestResult, error) {
	delay := 10 * time.Millisecond
	for {
		r, err := b.w.Ingest(ctx, batch)
		overloaded := anomaly.ErrorCode(err) == anomaly.CodeOverloaded
		if err == nil {
			// Retry just the samples refused for full queues.
			var again []anomaly.Sample
			for _, e := range r.Errors {
				if e.Code == anomaly.CodeOverloaded && e.Index >= 0 && e.Index < len(batch) {
					again = append(again, batch[e.Index])
				}
			}
			if len(again) == 0 {
				return r, nil
			}
			r2, err := b.ingest(ctx, again)
			r.Accepted += r2.Accepted
			r.Rejected += r2.Rejected - len(again)
			return r, err
		}
		if !overloaded {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, x == x && x-x == 0 // finite
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// NewClient returns an influxdb-client-go client for url with token (for
// InfluxDB 1.8: "user:password", or "" without auth).
func NewClient(url, token string) influxdb2.Client {
	return influxdb2.NewClientWithOptions(url, token, influxdb2.DefaultOptions().SetHTTPRequestTimeout(600))
}
