package cluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

// Headers of the requests nodes send each other, and of merged answers.
const (
	// HopHeader marks a request one node sent another (a forwarded
	// per-series query, or one member's share of a fan-out); its value is
	// the sender's advertised URL. A node answers such a request from its
	// own state and never forwards it again.
	HopHeader = "X-Detector-Forwarded-By"
	// PartialHeader is set to "true" on a merged answer that lacks the
	// share of at least one member (see Partial in the body).
	PartialHeader = "X-Detector-Partial"
	// OwnerHeader names, on a forwarded answer or a forwarding error, the
	// node that owns (or was believed to own) the series.
	OwnerHeader = "X-Detector-Owner"
)

// Defaults of Config.
const (
	DefaultTimeout       = 10 * time.Second
	DefaultRetryAfter    = time.Second
	DefaultRebalanceWait = 2 * time.Second
	DefaultMaxBodyBytes  = 16 << 20
	DefaultLimit         = 100
	DefaultMaxLimit      = 1000
	DefaultMaxPeeks      = 16
)

// Config configures a Forwarder. Zero fields take their defaults.
type Config struct {
	// Directory says which node owns which partition. Required.
	Directory Directory
	// KeyLabels are the labels of the routing key (RoutingKey): the
	// --kafka-key-labels of the deployment, the same on every node and in
	// every producer.
	KeyLabels []string
	// Limits are the series limits used to canonicalise series text
	// (series.Parse), the same as the engine's.
	Limits series.Limits
	// Client sends forwarded and fan-out requests; nil means a client of
	// its own with bounded dial and header timeouts.
	Client *http.Client
	// Timeout bounds one forwarded exchange, the answer's body included,
	// and one member's share of a fan-out. Default 10 s.
	Timeout time.Duration
	// RetryAfter is what a 503 answer tells clients to wait while a
	// partition has no owner. Default 1 s, sent in whole seconds.
	RetryAfter time.Duration
	// RebalanceWait is how long a per-series request waits for its
	// partition to get an owner (a rebalance usually takes a moment)
	// before it is answered 503. Default 2 s; negative: no wait.
	RebalanceWait time.Duration
	// MaxBodyBytes bounds a request body read to find its series (POST
	// /api/v1/detect) or to check and copy a peer rule. Default 16 MiB.
	MaxBodyBytes int64
	// MaxPeeks bounds the bodies read at once by the forwarder; more wait
	// for a turn until their context ends. Default 16.
	MaxPeeks int
	// DefaultLimit and MaxLimit are the page sizes of the API (api.Config):
	// a merged page holds as many series as one node's page would.
	// Defaults 100 and 1000.
	DefaultLimit, MaxLimit int
	// Logger gets forwarding failures; nil discards.
	Logger *slog.Logger
	// Registerer receives the forwarder's metrics
	// (detector_cluster_requests_total, detector_cluster_merged_total);
	// nil registers none.
	Registerer prometheus.Registerer
}

// Forwarder sends each per-series request to the node that owns the
// series' partition and fans list requests out to every member, merging
// their answers. Its Handler wraps a node's API handler. It is safe for
// concurrent use.
type Forwarder struct {
	cfg    Config
	dir    Directory
	client *http.Client
	proxy  *httputil.ReverseProxy
	log    *slog.Logger
	peeks  chan struct{}
	m      *metrics
}

// NewForwarder checks cfg and builds a Forwarder.
func NewForwarder(cfg Config) (*Forwarder, error) {
	if cfg.Directory == nil {
		return nil, errors.New("cluster: forwarder needs a Directory")
	}
	for _, l := range cfg.KeyLabels {
		if l == "" || strings.ContainsAny(l, `,={}" `) {
			return nil, fmt.Errorf("cluster: key label %q is not a label name", l)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.RebalanceWait == 0 {
		cfg.RebalanceWait = DefaultRebalanceWait
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxPeeks <= 0 {
		cfg.MaxPeeks = DefaultMaxPeeks
	}
	if cfg.DefaultLimit <= 0 {
		cfg.DefaultLimit = DefaultLimit
	}
	if cfg.MaxLimit <= 0 {
		cfg.MaxLimit = DefaultMaxLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cluster: metrics: %w", err)
	}
	f := &Forwarder{cfg: cfg, dir: cfg.Directory, client: cfg.Client, log: cfg.Logger,
		peeks: make(chan struct{}, cfg.MaxPeeks), m: m}
	if f.client == nil {
		f.client = &http.Client{Transport: newTransport(cfg.Timeout)}
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:       f.rewrite,
		Transport:     f.client.Transport,
		FlushInterval: -1, // stream the owner's answer as it comes
		ErrorHandler:  f.proxyError,
		ModifyResponse: func(*http.Response) error {
			f.m.outcome(outcomeForwarded)
			return nil
		},
		ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return f, nil
}

// newTransport is the transport nodes talk to each other with: bounded
// dial, TLS and header waits, a small idle pool per member.
func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // nodes talk directly, never through HTTP_PROXY
		DialContext:           (&net.Dialer{Timeout: min(timeout, 3*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   min(timeout, 5*time.Second),
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}
}

// KeyLabels returns the labels of the routing key.
func (f *Forwarder) KeyLabels() []string { return append([]string(nil), f.cfg.KeyLabels...) }

// SeriesKey returns the record key of series text: the text canonicalised
// as the engine does (series.Parse with lim), then RoutingKey with labels.
// Producers writing points to the points topic must key each record with
// exactly these bytes. Errors are series.Parse's (*anomaly.Error).
func SeriesKey(text string, labels []string, lim series.Limits) (string, error) {
	k, err := series.Parse(text, lim)
	if err != nil {
		return "", err
	}
	return RoutingKey(k.Canonical(), labels), nil
}

// Route is where a series lives: its partition and the owner's URL.
type Route struct {
	Partition int32
	// Owner is the owner's advertised URL; "" while no node owns the
	// partition (OK false).
	Owner string
	OK    bool
	// Local reports that this node owns the partition.
	Local bool
}

// Route finds where series text lives. Errors are series.Parse's.
func (f *Forwarder) Route(text string) (Route, error) {
	key, err := SeriesKey(text, f.cfg.KeyLabels, f.cfg.Limits)
	if err != nil {
		return Route{}, err
	}
	n := f.dir.Partitions()
	if n <= 0 {
		return Route{Partition: -1}, nil
	}
	rt := Route{Partition: Partition([]byte(key), n)}
	rt.Owner, rt.OK = f.dir.Owner(rt.Partition)
	rt.Local = rt.OK && sameNode(rt.Owner, f.dir.Self())
	return rt, nil
}

// sameNode compares advertised URLs, ignoring a trailing slash.
func sameNode(a, b string) bool { return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") }

// Handler returns next behind the forwarder: per-series requests for a
// series another node owns are proxied there (and GET
// /api/v1/anomalies/{id} and its feedback POST to the owner of the
// partition the id was numbered in, see IDPartition), list requests are fanned out
// and merged, peer rules are checked against the key labels and copied to
// every member; every other request, and every request another node sent
// (HopHeader), reaches next untouched.
func (f *Forwarder) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const v1 = "/api/v1/"
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, v1) {
			next.ServeHTTP(w, r)
			return
		}
		rest := path[len(v1):]
		hop := r.Header.Get(HopHeader) != ""
		switch {
		case rest == "detect" && r.Method == http.MethodGet:
			f.perSeries(w, r, next, r.URL.Query().Get("series"))
		case rest == "detect" && r.Method == http.MethodPost:
			f.perSeriesBody(w, r, next)
		case strings.HasPrefix(rest, "series/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			seg, tail, _ := strings.Cut(rest[len("series/"):], "/")
			text, err := url.PathUnescape(seg)
			if err != nil || (tail != "" && tail != "history") || seg == "" {
				next.ServeHTTP(w, r) // the API's own 400 or 404
				return
			}
			f.perSeries(w, r, next, text)
		case rest == "series" && r.Method == http.MethodGet && !hop:
			f.listSeries(w, r, next)
		case rest == "anomalies" && r.Method == http.MethodGet && !hop:
			f.listAnomalies(w, r, next)
		case strings.HasPrefix(rest, "anomalies/"):
			seg, tail, _ := strings.Cut(rest[len("anomalies/"):], "/")
			if tail == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) || tail == "feedback" && r.Method == http.MethodPost {
				f.perAnomaly(w, r, next, seg)
			} else {
				next.ServeHTTP(w, r)
			}
		case rest == "peers/outliers" && r.Method == http.MethodGet && !hop:
			f.listOutliers(w, r, next)
		case rest == "peers/rules" && r.Method == http.MethodPost:
			f.addPeerRule(w, r, next, hop)
		case strings.HasPrefix(rest, "peers/rules/") && r.Method == http.MethodDelete && !hop:
			f.broadcast(w, r, next, nil, http.StatusNotFound)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// perSeries serves a request about one series: locally when this node
// owns it, else through the owner.
func (f *Forwarder) perSeries(w http.ResponseWriter, r *http.Request, next http.Handler, text string) {
	if text == "" {
		next.ServeHTTP(w, r) // the API's own 400
		return
	}
	if _, err := f.Route(text); err != nil {
		next.ServeHTTP(w, r) // invalid series: the API's own 400
		return
	}
	f.serveRoute(w, r, next, "series "+clip(text), func() (Route, error) { return f.Route(text) })
}

// perAnomaly serves GET /api/v1/anomalies/{id} and its feedback POST at
// the owner of the partition the id was numbered in (IDPartition). An id
// of a single node, or one that is not an id, is this node's own (the
// API's answer, a 404 or 400).
func (f *Forwarder) perAnomaly(w http.ResponseWriter, r *http.Request, next http.Handler, seg string) {
	id, err := anomaly.ParseID(seg)
	if err != nil {
		next.ServeHTTP(w, r)
		return
	}
	p, ok := IDPartition(id)
	if n := f.dir.Partitions(); !ok || n > 0 && p >= n {
		next.ServeHTTP(w, r)
		return
	}
	f.serveRoute(w, r, next, fmt.Sprintf("anomaly %d", id), func() (Route, error) { return f.partitionRoute(p), nil })
}

// partitionRoute is where partition p lives.
func (f *Forwarder) partitionRoute(p int32) Route {
	if f.dir.Partitions() <= 0 {
		return Route{Partition: -1}
	}
	rt := Route{Partition: p}
	rt.Owner, rt.OK = f.dir.Owner(p)
	rt.Local = rt.OK && sameNode(rt.Owner, f.dir.Self())
	return rt
}

// serveRoute serves r locally when this node owns the partition route
// finds, else through the owner; what names the request's subject in
// errors ("series x", "anomaly 7").
func (f *Forwarder) serveRoute(w http.ResponseWriter, r *http.Request, next http.Handler, what string, route func() (Route, error)) {
	rt, err := route()
	if err != nil {
		next.ServeHTTP(w, r)
		return
	}
	if !rt.OK {
		rt = f.awaitOwner(r.Context(), route, rt)
	}
	if rt.Local {
		next.ServeHTTP(w, r)
		return
	}
	if !rt.OK {
		f.m.outcome(outcomeNoOwner)
		w.Header().Set("Retry-After", f.retryAfter())
		msg := fmt.Sprintf("%s belongs to partition %d, which has no owner yet (the group is rebalancing): retry shortly", what, rt.Partition)
		if rt.Partition < 0 {
			msg = "the partitions of the points topic are not known yet (the node is joining its group): retry shortly"
		}
		writeError(w, http.StatusServiceUnavailable, "unavailable", msg, "")
		return
	}
	if from := r.Header.Get(HopHeader); from != "" {
		// A second hop: the sender thought this node owned the series,
		// this node thinks another does. Their views of the group differ
		// (a rebalance in progress); refuse rather than bounce.
		f.m.outcome(outcomeLoop)
		w.Header().Set(OwnerHeader, rt.Owner)
		w.Header().Set("Retry-After", f.retryAfter())
		writeError(w, http.StatusLoopDetected, "forward_loop",
			fmt.Sprintf("%s (partition %d) was forwarded here by %s, but this node sees %s as its owner: the nodes disagree on the assignment (a rebalance in progress?); retry shortly",
				what, rt.Partition, clip(from), rt.Owner), rt.Owner)
		return
	}
	f.forward(w, r, rt.Owner)
}

// awaitOwner polls the directory for up to RebalanceWait until route finds
// an owner, and returns the last route found.
func (f *Forwarder) awaitOwner(ctx context.Context, route func() (Route, error), rt Route) Route {
	if f.cfg.RebalanceWait <= 0 {
		return rt
	}
	deadline := time.NewTimer(f.cfg.RebalanceWait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return rt
		case <-deadline.C:
			return rt
		case <-tick.C:
		}
		if next, err := route(); err == nil {
			if rt = next; rt.OK {
				return rt
			}
		}
	}
}

// perSeriesBody reads the body of POST /api/v1/detect to find its series,
// then serves it as perSeries does with the body intact.
func (f *Forwarder) perSeriesBody(w http.ResponseWriter, r *http.Request, next http.Handler) {
	body, ok := f.peek(w, r)
	if !ok {
		return
	}
	var probe struct {
		Series *string `json:"series"`
	}
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			body, _ = io.ReadAll(io.LimitReader(zr, f.cfg.MaxBodyBytes))
		}
	}
	if json.Unmarshal(body, &probe) != nil || probe.Series == nil {
		next.ServeHTTP(w, r) // the API's own 400
		return
	}
	f.perSeries(w, r, next, *probe.Series)
}

// peek reads a request body whole (at most MaxBodyBytes, within Timeout,
// holding one of MaxPeeks turns) and puts it back so that the request can
// be served or forwarded as it came. A request that finds no turn within
// a second is answered 429: slow bodies cannot queue up behind the turns.
// It answers the request itself and returns false when the body cannot be
// read.
func (f *Forwarder) peek(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	wait := time.NewTimer(time.Second)
	defer wait.Stop()
	select {
	case f.peeks <- struct{}{}:
	case <-wait.C:
		w.Header().Set("Retry-After", f.retryAfter())
		writeError(w, http.StatusTooManyRequests, "overloaded", "too many request bodies are being read at once: retry shortly", "")
		return nil, false
	case <-r.Context().Done():
		return nil, false
	}
	defer func() { <-f.peeks }()
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(f.cfg.Timeout)) == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.cfg.MaxBodyBytes))
	if err != nil {
		// The rest of the body is not read: the connection cannot carry
		// another request.
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body is over %d bytes", f.cfg.MaxBodyBytes), "")
		case isTimeout(err):
			writeError(w, http.StatusRequestTimeout, "request_timeout",
				fmt.Sprintf("the request body did not arrive within %v", f.cfg.Timeout), "")
		default:
			writeError(w, http.StatusBadRequest, "invalid_json", "reading the request body: "+err.Error(), "")
		}
		return nil, false
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, true
}

type ownerKey struct{}

// forward proxies r to owner and streams the answer back, within Timeout.
func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, owner string) {
	target, err := url.Parse(owner)
	if err != nil || target.Host == "" {
		writeError(w, http.StatusBadGateway, "bad_gateway",
			fmt.Sprintf("the owner's advertised URL %q is not a URL", clip(owner)), owner)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.Timeout)
	defer cancel()
	w.Header().Set(OwnerHeader, owner)
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ownerKey{}, target)))
}

// rewrite points the outgoing request at the owner. The Host header stays
// the client's, so that the owner applies the same Host and Origin checks
// the client's node would have.
func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	target := pr.In.Context().Value(ownerKey{}).(*url.URL)
	pr.SetURL(target)
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	pr.Out.Header.Set(HopHeader, f.dir.Self())
}

// proxyError answers a forwarded request the owner did not answer.
func (f *Forwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	owner := ""
	if u, ok := r.Context().Value(ownerKey{}).(*url.URL); ok {
		owner = u.String()
	}
	if r.Context().Err() != nil && !errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		return // the client left
	}
	f.log.Warn("forwarding to the owner failed", "owner", owner, "path", r.URL.Path, "error", err)
	status, code := http.StatusBadGateway, "owner_unreachable"
	msg := fmt.Sprintf("the owner of this series, %s, did not answer: %v", owner, err)
	outcome := outcomeUnreachable
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		outcome = outcomeTimeout
		status, code = http.StatusGatewayTimeout, "owner_timeout"
		msg = fmt.Sprintf("the owner of this series, %s, did not answer within %v", owner, f.cfg.Timeout)
	}
	f.m.outcome(outcome)
	w.Header().Set("Retry-After", f.retryAfter())
	writeError(w, status, code, msg, owner)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (f *Forwarder) retryAfter() string {
	return strconv.Itoa(max(1, int((f.cfg.RetryAfter+time.Second-1)/time.Second)))
}

// errorBody is the JSON form of the forwarder's errors, the API's shape
// ({"error": {"code", "message"}}) with the owner when one is known.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Owner   string `json:"owner,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, msg, owner string) {
	writeDetail(w, status, errorDetail{Code: code, Message: msg, Owner: owner})
}

func writeErrorField(w http.ResponseWriter, status int, code, msg, field string) {
	writeDetail(w, status, errorDetail{Code: code, Message: msg, Field: field})
}

func writeDetail(w http.ResponseWriter, status int, d errorDetail) {
	b, _ := json.Marshal(errorBody{Error: d})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// clip shortens text quoted in an error message.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
