package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
)

// Ingester takes batches of points. Implementations must be safe for
// concurrent use. Ingest must not keep samples after it returns. Item
// errors go into the result, with Index the position in samples; a
// whole-request error is an *anomaly.Error with CodeOverloaded (answered
// 429 with Retry-After) or CodeUnavailable (503).
type Ingester interface {
	Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error)
}

// Detector answers verdicts for one series. Implementations must be safe
// for concurrent use. Errors are *anomaly.Error: CodeNotFound for an
// unknown series, CodeInvalidSeries for series text that is not valid.
type Detector interface {
	// Latest returns the verdict of the series' last point.
	Latest(ctx context.Context, series string) (anomaly.Verdict, error)
	// WhatIf scores samples (all of the series, in request order) against
	// the learned baseline without changing it. It returns one verdict per
	// sample, in order, and must not keep samples.
	WhatIf(ctx context.Context, series string, samples []anomaly.Sample) ([]anomaly.Verdict, error)
}

// SeriesReader lists and describes live series. Implementations must be
// safe for concurrent use.
type SeriesReader interface {
	// List returns one page of series matching match (a Prometheus
	// selector such as {device="tv_sony"}, or "" for all). limit is in
	// [1, Config.MaxLimit]; cursor is "" or a NextCursor of an earlier page.
	// A bad matcher or cursor is an *anomaly.Error with CodeInvalidArgument.
	List(ctx context.Context, match string, limit int, cursor string) (anomaly.SeriesPage, error)
	// Get describes one series; CodeNotFound when it is unknown.
	Get(ctx context.Context, series string) (anomaly.SeriesDetail, error)
}

// Engine is everything the API asks of the series engine.
type Engine interface {
	Ingester
	Detector
	SeriesReader
}

// Timeline reads the anomaly timeline. Implementations must be safe for
// concurrent use. Query's errors for a bad state or cursor are
// *anomaly.Error with CodeInvalidArgument; Get's for an unknown id
// CodeNotFound.
type Timeline interface {
	Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error)
	Get(ctx context.Context, id anomaly.ID) (anomaly.Anomaly, error)
}

// BatchFunc runs stateless detection over samples the caller supplies (all
// of one series, in request order). periodSeconds is the cycle to remove,
// or 0 to detect it from the data. It must be safe for concurrent use and
// return one verdict per sample, in order.
type BatchFunc func(ctx context.Context, samples []anomaly.Sample, periodSeconds int64) (anomaly.BatchResult, error)

// Peers keeps peer-group rules and their latest judgements. Implementations
// must be safe for concurrent use. Errors are *anomaly.Error: AddRule
// CodeConflict for a taken name and CodeMissingField or CodeInvalidArgument
// for an invalid rule; DeleteRule and Results CodeNotFound for an unknown
// rule. *peers.Groups implements it.
type Peers interface {
	// AddRule stores r and returns it with its defaults filled in.
	AddRule(ctx context.Context, r peers.Rule) (peers.Rule, error)
	// Rules lists the rules.
	Rules() []peers.Rule
	// DeleteRule removes the rule named name.
	DeleteRule(ctx context.Context, name string) error
	// Results returns the latest judgement of the groups of rule, or of
	// the one group named group when it is not "".
	Results(rule, group string) ([]peers.GroupResult, error)
}

// PeerDetectFunc judges one peer group sent in full by the caller (see
// peers.DetectMembers). It must be safe for concurrent use; errors are
// *anomaly.Error, with Index the offending member.
type PeerDetectFunc func(peers.DetectRequest) (peers.DetectResponse, error)

// Config holds the limits of the API. Zero fields take the default of
// DefaultConfig.
type Config struct {
	// MaxBodyBytes bounds a request body; larger bodies get 413
	// body_too_large. Default 16 MiB.
	MaxBodyBytes int64
	// MaxPoints bounds the points of one request; more get 413
	// limit_exceeded. Default 50,000.
	MaxPoints int
	// MaxFuture is how far ahead of the server clock an ingested
	// timestamp may be. Default 10 minutes.
	MaxFuture time.Duration
	// RetryAfter is what a 429 answer tells clients to wait. Default 1 s;
	// sent in whole seconds, at least 1.
	RetryAfter time.Duration
	// DefaultLimit is the page size of listings without a limit
	// parameter. Default 100.
	DefaultLimit int
	// MaxLimit caps the limit parameter of listings; larger values are
	// lowered to it. Default 1000.
	MaxLimit int
	// MaxInFlight bounds the requests with a body (POST) that are read and
	// decoded at once; it bounds the memory request bodies can take to
	// MaxInFlight x MaxBodyBytes and keeps CPU for reads and health checks
	// when ingest is overloaded. A request over the bound waits up to
	// InFlightWait for a turn, then gets 429 overloaded with Retry-After
	// without its body being read. Default GOMAXPROCS: more requests
	// decoding at once than cores only delays the reads and health checks.
	MaxInFlight int
	// InFlightWait is how long a request waits for one of the MaxInFlight
	// turns. Default 100 ms.
	InFlightWait time.Duration
	// BucketLabel, when set, is the label name under which line-protocol
	// writes record their bucket (2.x) or database (1.x). Empty: none.
	BucketLabel string
	// Guard: slow clients, cross-site requests, answer sizes (guard.go).
	Guard GuardConfig
	// Admission: ingest requests at work at once (admission.go).
	Admission AdmissionConfig
}

// DefaultConfig returns the limits `detector serve` runs with.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes: 16 << 20,
		MaxPoints:    50_000,
		MaxFuture:    10 * time.Minute,
		RetryAfter:   time.Second,
		DefaultLimit: anomaly.DefaultPageLimit,
		MaxLimit:     anomaly.MaxPageLimit,
		MaxInFlight:  runtime.GOMAXPROCS(0),
		InFlightWait: 100 * time.Millisecond,
	}
}

func (c *Config) fill() error {
	d := DefaultConfig()
	if c.MaxBodyBytes < 0 || c.MaxPoints < 0 || c.MaxFuture < 0 || c.RetryAfter < 0 || c.DefaultLimit < 0 || c.MaxLimit < 0 ||
		c.MaxInFlight < 0 || c.InFlightWait < 0 {
		return errors.New("api: negative limit in config")
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.MaxPoints == 0 {
		c.MaxPoints = d.MaxPoints
	}
	if c.MaxFuture == 0 {
		c.MaxFuture = d.MaxFuture
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = d.RetryAfter
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = d.MaxLimit
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = d.MaxInFlight
	}
	if c.InFlightWait == 0 {
		c.InFlightWait = d.InFlightWait
	}
	if c.DefaultLimit == 0 {
		c.DefaultLimit = min(d.DefaultLimit, c.MaxLimit)
	}
	if c.DefaultLimit > c.MaxLimit {
		return fmt.Errorf("api: default limit %d is above the max limit %d", c.DefaultLimit, c.MaxLimit)
	}
	return c.Guard.fill()
}

// Deps are the collaborators of the API. Every field is optional: a route
// whose collaborator is missing answers 503 unavailable.
type Deps struct {
	Engine Engine
	// Ingest is the write path of the wire-format routes (remote_write,
	// line protocol, write.go); nil uses Engine.
	Ingest Ingester
	// Backfill serves /api/v1/backfill (backfill.go).
	Backfill Backfiller
	Timeline Timeline
	Batch    BatchFunc
	// Peers serves the peer-group rules and outliers.
	Peers Peers
	// Feedback takes labels on anomalies (feedback.go). Nil: 503.
	Feedback Feedback
	// Bounds keeps the static-bound, limit-ratio and time-zone rules
	// (bounds.go). Nil: 503.
	Bounds Bounds
	// PeerDetect serves POST /api/v1/peers/detect.
	PeerDetect PeerDetectFunc
	// Remediations serves /api/v1/remediations (api/remediations.go).
	Remediations Remediations
	// History serves GET /api/v1/series/{series}/history (history.go).
	History HistoryReader
	// Sorted serves GET /api/v1/series?sort= (history.go); nil: the Engine
	// when it implements SortedLister, else 503.
	Sorted SortedLister
	// Canonical, when set, turns the series parameter of the anomaly
	// listing into the form the engine records on the timeline (labels
	// sorted), so that filters match however the client orders labels.
	Canonical func(series string) (string, error)
	// Notify serves webhooks, silences and change events and annotates
	// anomalies (notify.go).
	Notify Notifier
	// Ready reports whether the service takes traffic (GET /readyz). Nil
	// means always ready.
	Ready func() bool
	// Gatherer is served at GET /metrics; nil serves nothing but the API's
	// own metrics when Registerer is also a Gatherer. A *prometheus.Registry
	// fits both fields.
	Gatherer prometheus.Gatherer
	// Registerer receives the HTTP request metrics. Nil: not registered.
	Registerer prometheus.Registerer
	// Logger logs every request (debug; 4xx at info, 5xx at error). Nil
	// discards.
	Logger *slog.Logger
	// Now is the clock for the future-timestamp check. Nil is time.Now.
	Now func() time.Time
	// Status is served as JSON at GET /status (version, uptime, effective
	// configuration); nil answers 503.
	Status func() any
	// IngestRun, when set, runs the decoding and applying of each ingest
	// request (POST /api/v1/points, the write routes) once its body is
	// read and its ingest slot taken, and returns when f has returned.
	// `detector serve --ingest-nice` runs f on a pool of threads of lower
	// kernel priority, so that verdict reads preempt it. Nil runs f on
	// the request's goroutine.
	IngestRun func(f func())
}

// API is the HTTP handler of the service. It is safe for concurrent use.
type API struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	router  *mux.Router
	metrics *httpMetrics
	allow   []allowRule // for the Allow header of 405 answers
	// inFlight holds one token per request with a body being served
	// (Config.MaxInFlight).
	inFlight chan struct{}
	writes   *writeMetrics // write.go
	readers  *gate         // bodies being received (Guard.MaxBodyReaders)
	queries  *gate         // expensive GETs being served (Guard.MaxQueries)
	handler  http.Handler  // front(router)

	// admission holds the ingest slots (admission.go).
	admission *admission
}

// allowRule is a route's path pattern and methods.
type allowRule struct {
	path    *regexp.Regexp
	methods []string
}

// New builds the API. It fails on a negative limit or when the metrics
// cannot be registered.
func New(cfg Config, deps Deps) (*API, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Gatherer == nil {
		if g, ok := deps.Registerer.(prometheus.Gatherer); ok {
			deps.Gatherer = g
		} else {
			deps.Gatherer = prometheus.NewRegistry()
		}
	}
	m, err := newHTTPMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	a := &API{cfg: cfg, deps: deps, log: deps.Logger, metrics: m, inFlight: make(chan struct{}, cfg.MaxInFlight)}
	if a.writes, err = newWriteMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	if a.admission, err = newAdmission(cfg.Admission, deps.Registerer); err != nil {
		return nil, err
	}
	a.readers, a.queries = newGate(cfg.Guard.MaxBodyReaders), newGate(cfg.Guard.MaxQueries)
	a.router = a.routes()
	a.handler = a.front(a.router)
	if err := a.router.Walk(func(rt *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		re, err := rt.GetPathRegexp()
		if err != nil {
			return err
		}
		methods, _ := rt.GetMethods()
		a.allow = append(a.allow, allowRule{regexp.MustCompile(re), methods})
		return nil
	}); err != nil {
		return nil, fmt.Errorf("api: walking routes: %w", err)
	}
	return a, nil
}

// routes declares every route. Paths are matched on their escaped form, so
// that a series name escaped into one path segment keeps its slashes.
func (a *API) routes() *mux.Router {
	r := mux.NewRouter().UseEncodedPath()
	r.Use(a.routeLabel)
	r.NotFoundHandler = a.wrap(a.notFound)
	r.MethodNotAllowedHandler = a.wrap(a.methodNotAllowed)

	// Full paths on one router: mux answers 405 for a method mismatch only
	// on routes of the router that matched, not through a subrouter.
	const v1 = "/api/v1"
	r.Handle(v1+"/points", a.ingestRoute(a.wrap(a.ingest))).Methods(http.MethodPost)
	r.Handle(v1+"/detect", a.wrap(a.latest)).Methods(http.MethodGet)
	r.Handle(v1+"/detect", a.wrap(a.whatIf)).Methods(http.MethodPost)
	r.Handle(v1+"/detect/batch", a.wrap(a.batch)).Methods(http.MethodPost)
	r.Handle(v1+"/series", a.wrap(a.query(a.listSeries))).Methods(http.MethodGet)
	r.Handle(v1+"/series/{series}", a.wrap(a.getSeries)).Methods(http.MethodGet)
	r.Handle(v1+"/series/{series}/history", a.wrap(a.getHistory)).Methods(http.MethodGet)
	r.Handle(v1+"/anomalies", a.wrap(a.query(a.listAnomalies))).Methods(http.MethodGet)
	r.Handle(v1+"/anomalies/{id}", a.wrap(a.getAnomaly)).Methods(http.MethodGet)
	r.Handle(v1+"/anomalies/{id}/feedback", a.wrap(a.postFeedback)).Methods(http.MethodPost)
	r.Handle(v1+"/feedback", a.wrap(a.getFeedback)).Methods(http.MethodGet)
	r.Handle(v1+"/peers/rules", a.wrap(a.addPeerRule)).Methods(http.MethodPost)
	r.Handle(v1+"/peers/rules", a.wrap(a.listPeerRules)).Methods(http.MethodGet)
	r.Handle(v1+"/peers/rules/{name}", a.wrap(a.deletePeerRule)).Methods(http.MethodDelete)
	r.Handle(v1+"/peers/outliers", a.wrap(a.peerOutliers)).Methods(http.MethodGet)
	r.Handle(v1+"/peers/detect", a.wrap(a.peerDetect)).Methods(http.MethodPost)
	a.remediationRoutes(r, v1)
	a.boundRoutes(r, v1) // bounds.go
	r.HandleFunc(v1+"/openapi.json", serveOpenAPI).Methods(http.MethodGet)
	a.writeRoutes(r)    // remote_write and line protocol, write.go
	a.backfillRoutes(r) // backfill.go

	// Notifications (notify.go): webhooks, silences, change events.
	r.Handle(v1+"/webhooks", a.wrap(a.addWebhook)).Methods(http.MethodPost)
	r.Handle(v1+"/webhooks", a.wrap(a.listWebhooks)).Methods(http.MethodGet)
	r.Handle(v1+"/webhooks/{id}", a.wrap(a.getWebhook)).Methods(http.MethodGet)
	r.Handle(v1+"/webhooks/{id}", a.wrap(a.patchWebhook)).Methods(http.MethodPatch)
	r.Handle(v1+"/webhooks/{id}", a.wrap(a.deleteWebhook)).Methods(http.MethodDelete)
	r.Handle(v1+"/webhooks/{id}/test", a.wrap(a.testWebhook)).Methods(http.MethodPost)
	r.Handle(v1+"/webhooks/{id}/rotate", a.wrap(a.rotateWebhook)).Methods(http.MethodPost)
	r.Handle(v1+"/webhooks/{id}/deliveries", a.wrap(a.webhookDeliveries)).Methods(http.MethodGet)
	r.Handle(v1+"/silences", a.wrap(a.addSilence)).Methods(http.MethodPost)
	r.Handle(v1+"/silences", a.wrap(a.listSilences)).Methods(http.MethodGet)
	r.Handle(v1+"/silences/{id}", a.wrap(a.deleteSilence)).Methods(http.MethodDelete)
	r.Handle(v1+"/events", a.wrap(a.addEvent)).Methods(http.MethodPost)
	r.Handle(v1+"/events", a.wrap(a.listEvents)).Methods(http.MethodGet)

	r.Handle("/healthz", a.wrap(a.healthz)).Methods(http.MethodGet)
	r.Handle("/readyz", a.wrap(a.readyz)).Methods(http.MethodGet)
	r.Handle("/status", a.wrap(a.status)).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.deps.Gatherer, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	})).Methods(http.MethodGet)
	return r
}

// ServeHTTP serves one request, counts it, times it and logs it.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	info := &requestInfo{route: "unmatched"}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	a.handler.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	elapsed := time.Since(start)
	a.metrics.observe(info.route, r.Method, sw.status, elapsed)

	level := slog.LevelDebug
	switch {
	case sw.status >= 500:
		level = slog.LevelError
	case sw.status >= 400:
		level = slog.LevelInfo
	}
	if !a.log.Enabled(r.Context(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", info.route),
		slog.Int("status", sw.status),
		slog.Duration("duration", elapsed),
		slog.Int64("bytes", sw.bytes),
	}
	if info.code != "" {
		attrs = append(attrs, slog.String("code", string(info.code)))
	}
	if info.err != nil && sw.status >= 500 {
		attrs = append(attrs, slog.String("error", info.err.Error()))
	}
	a.log.LogAttrs(r.Context(), level, "http request", attrs...)
}

// requestInfo carries what the inner layers learn about a request to
// ServeHTTP, which counts and logs it.
type requestInfo struct {
	route string       // path template, or "unmatched"
	code  anomaly.Code // error code of the answer, if any
	err   error        // the error behind a 5xx answer
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{}
}

// routeLabel records the matched route's path template.
func (a *API) routeLabel(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := mux.CurrentRoute(r); rt != nil {
			if tpl, err := rt.GetPathTemplate(); err == nil {
				infoOf(r).route = tpl
			}
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status and size of an answer.
type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (a *API) notFound(r *http.Request) (any, error) {
	return nil, anomaly.Errorf(anomaly.CodeNotFound, "no route for %s %s: see /api/v1/openapi.json", r.Method, r.URL.Path)
}

func (a *API) methodNotAllowed(r *http.Request) (any, error) {
	path := r.URL.EscapedPath()
	var allowed []string
	for _, rule := range a.allow {
		if rule.path.MatchString(path) {
			allowed = append(allowed, rule.methods...)
		}
	}
	return nil, &methodError{allowed: allowed, method: r.Method, path: r.URL.Path}
}

// methodError is the error of a request whose path exists with other
// methods; wrap answers it 405 with an Allow header.
type methodError struct {
	allowed      []string
	method, path string
}

func (e *methodError) Error() string {
	return fmt.Sprintf("method %s is not allowed on %s; allowed: %s", e.method, e.path, strings.Join(e.allowed, ", "))
}
