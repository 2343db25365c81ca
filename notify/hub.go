package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
	"github.com/anomalyd/detector/series"
)

// Options configure a Hub. Zero fields take the defaults in their
// comments. Log and Cursors are required.
type Options struct {
	// DataDir holds notify.db; "" keeps everything in memory.
	DataDir string
	// Log is the event log the notifiers read; Cursors keeps their
	// positions in it.
	Log     eventlog.Log
	Cursors eventlog.Cursors
	// Guard vets every destination (webhooks, Alertmanager); nil refuses
	// every private, loopback and metadata address.
	Guard *netguard.Guard
	// BaseURL is the service's own address, used for the links in
	// notifications (default http://127.0.0.1:8080).
	BaseURL string
	// Limits parse series texts into labels (default series.DefaultLimits).
	Limits series.Limits

	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration
	// MaxAge is how long an event is retried before it is given up and
	// recorded as failed (default 24h).
	MaxAge time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff between
	// attempts, jittered (defaults 1s and 10m).
	BackoffMin, BackoffMax time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (default 1h).
	MaxRetryAfter time.Duration
	// MaxFailures is the run of consecutive failed attempts after which an
	// endpoint is disabled (default 50). 429 answers do not count.
	MaxFailures int
	// Concurrency is the number of deliveries one endpoint has in flight
	// at once, over distinct series (order per series is kept); default 4.
	Concurrency int
	// DeliveryLog is the number of deliveries kept per endpoint (default 100).
	DeliveryLog int

	// HoldDown: a series whose anomaly resolves and reopens within it stays
	// one incident (default 5m). Alertmanager alerts are held open that
	// long after they resolve.
	HoldDown time.Duration
	// Severity maps score and duration to a severity.
	Severity SeverityMap
	// CauseWindow is how far before an anomaly a change event counts as a
	// possible cause (default 30m).
	CauseWindow time.Duration
	// EventRetention is how long change events are kept (default 30 days).
	EventRetention time.Duration
	// IncidentRetention is how long the incident view of a resolved
	// anomaly is kept, counted in event time (default 30 days, the
	// timeline's retention); past it an anomaly read from the timeline gets
	// a key derived from its series and id.
	IncidentRetention time.Duration

	// Alertmanagers are the base URLs of Alertmanagers to post to.
	Alertmanagers []string
	// ResendInterval is how often open alerts are posted again (default 1m).
	ResendInterval time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the wall clock (default time.Now).
	Now func() time.Time
}

func (o *Options) fill() error {
	if o.Log == nil || o.Cursors == nil {
		return errors.New("notify: an event log and cursors are required")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, 10*time.Second)
	def(&o.MaxAge, 24*time.Hour)
	def(&o.BackoffMin, time.Second)
	def(&o.BackoffMax, 10*time.Minute)
	def(&o.MaxRetryAfter, time.Hour)
	def(&o.HoldDown, 5*time.Minute)
	def(&o.CauseWindow, 30*time.Minute)
	def(&o.EventRetention, 30*24*time.Hour)
	def(&o.IncidentRetention, 30*24*time.Hour)
	def(&o.ResendInterval, time.Minute)
	if o.MaxFailures <= 0 {
		o.MaxFailures = 50
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.DeliveryLog <= 0 {
		o.DeliveryLog = 100
	}
	if o.BaseURL == "" {
		o.BaseURL = "http://127.0.0.1:8080"
	}
	if o.Limits == (series.Limits{}) {
		o.Limits = series.DefaultLimits()
	}
	if o.Severity == (SeverityMap{}) {
		o.Severity = DefaultSeverityMap()
	}
	if o.Guard == nil {
		o.Guard = netguard.New(nil)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Hub is the notification layer: subscriptions, silences, change events,
// incidents and the notifiers delivering from the event log. It is safe
// for concurrent use.
type Hub struct {
	opt Options
	kv  kv
	log *slog.Logger
	m   *metrics

	mu        sync.Mutex
	incidents map[anomaly.ID]*incident
	series    map[string]*seriesState
	dirtyInc  map[anomaly.ID]bool
	dirtySer  map[string]bool
	latest    time.Time // newest event time observed, the clock of pruning
	lastPrune time.Time
	silences  map[string]*Silence
	events    []ChangeEvent // sorted by At
	webhooks  map[string]*endpoint
	ams       []*amSender

	bodyMu sync.Mutex
	bodies [bodyCacheSize]cachedBody

	clientOnce sync.Once
	httpClient *http.Client

	skipSilences atomic.Int32 // silences with skip_learning, for the write path's fast path

	runCtx  context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	started bool
	closed  bool
}

// New opens the hub's state (notify.db in DataDir) and restores it.
// Nothing is delivered until Start.
func New(opt Options) (*Hub, error) {
	if err := opt.fill(); err != nil {
		return nil, err
	}
	h := &Hub{
		opt: opt, log: opt.Logger,
		incidents: map[anomaly.ID]*incident{}, series: map[string]*seriesState{},
		dirtyInc: map[anomaly.ID]bool{}, dirtySer: map[string]bool{},
		silences: map[string]*Silence{}, webhooks: map[string]*endpoint{},
	}
	var err error
	if opt.DataDir == "" {
		h.kv = newMemKV()
	} else if h.kv, err = openBolt(opt.DataDir); err != nil {
		return nil, err
	}
	if h.m, err = newMetrics(opt.Registerer); err != nil {
		h.kv.close()
		return nil, err
	}
	for _, raw := range opt.Alertmanagers {
		u, err := opt.Guard.CheckURL(raw)
		if err != nil {
			h.kv.close()
			return nil, fmt.Errorf("notify: alertmanager %q: %w", raw, err)
		}
		h.ams = append(h.ams, newAMSender(h, strings.TrimRight(u.String(), "/")))
	}
	if err := h.restore(); err != nil {
		h.kv.close()
		return nil, err
	}
	return h, nil
}

// restore reads notify.db back.
func (h *Hub) restore() error {
	err := h.kv.each(bucketIncidents, func(k string, v []byte) error {
		var inc incident
		if err := json.Unmarshal(v, &inc); err != nil {
			return fmt.Errorf("incident %s: %w", k, err)
		}
		h.incidents[inc.AnomalyID] = &inc
		return nil
	})
	if err == nil {
		err = h.kv.each(bucketSeries, func(k string, v []byte) error {
			var s seriesState
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("series state %s: %w", k, err)
			}
			h.series[k] = &s
			return nil
		})
	}
	if err == nil {
		err = h.restoreSilences()
	}
	if err == nil {
		err = h.restoreEvents()
	}
	if err == nil {
		err = h.restoreWebhooks()
	}
	for _, am := range h.ams {
		if err == nil {
			err = am.restore()
		}
	}
	if err != nil {
		return fmt.Errorf("notify: restore: %w", err)
	}
	return nil
}

// Start starts one delivery goroutine per enabled webhook and per
// Alertmanager, and the writer of the incident table.
func (h *Hub) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed {
		return
	}
	h.started = true
	h.runCtx, h.stop = context.WithCancel(context.Background())
	for _, ep := range h.webhooks {
		h.startEndpointLocked(ep)
	}
	for _, am := range h.ams {
		h.wg.Add(1)
		go func() { defer h.wg.Done(); am.run(h.runCtx) }()
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-h.runCtx.Done():
				return
			case <-t.C:
				if err := h.flush(); err != nil {
					h.log.Warn("writing notification state", "err", err)
				}
			}
		}
	}()
}

// Close stops every notifier, writes the state and closes notify.db.
// Deliveries in flight are abandoned; their events are delivered again
// after a restart (at-least-once).
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	stop := h.stop
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	h.wg.Wait()
	err := h.flush()
	if e := h.kv.close(); err == nil {
		err = e
	}
	return err
}

// flush writes the dirty incidents, series states and delivery logs.
func (h *Hub) flush() error {
	h.mu.Lock()
	if now := time.Now(); now.Sub(h.lastPrune) >= time.Minute {
		h.lastPrune = now
		h.pruneLocked()
	}
	inc := make(map[string][]byte, len(h.dirtyInc))
	for id := range h.dirtyInc {
		if i := h.incidents[id]; i != nil {
			b, _ := json.Marshal(i)
			inc[id.String()] = b
		} else {
			inc[id.String()] = nil
		}
	}
	ser := make(map[string][]byte, len(h.dirtySer))
	for k := range h.dirtySer {
		if s := h.series[k]; s != nil {
			b, _ := json.Marshal(s)
			ser[k] = b
		} else {
			ser[k] = nil
		}
	}
	clear(h.dirtyInc)
	clear(h.dirtySer)
	eps := make([]*endpoint, 0, len(h.webhooks))
	for _, ep := range h.webhooks {
		eps = append(eps, ep)
	}
	h.mu.Unlock()
	err := h.kv.put(bucketIncidents, inc)
	if e := h.kv.put(bucketSeries, ser); err == nil {
		err = e
	}
	dl := map[string][]byte{}
	for _, ep := range eps {
		if b := ep.takeDirtyDeliveries(); b != nil {
			dl[ep.id] = b
		}
	}
	if e := h.kv.put(bucketDeliveries, dl); err == nil {
		err = e
	}
	return err
}

// pruneLocked drops resolved incidents and settled series states older
// than IncidentRetention before the newest event. h.mu held.
func (h *Hub) pruneLocked() {
	cutoff := h.latest.Add(-h.opt.IncidentRetention)
	for id, inc := range h.incidents {
		if inc.EndedAt != nil && inc.EndedAt.Before(cutoff) {
			delete(h.incidents, id)
			h.dirtyInc[id] = true
		}
	}
	for k, ss := range h.series {
		if !ss.Open && ss.ResolvedAt.Before(cutoff) {
			delete(h.series, k)
			h.dirtySer[k] = true
		}
	}
}

// newID returns prefix followed by 16 random hex digits.
func newID(prefix string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// labelsOf returns the labels of a series text, with its metric name under
// "__name__"; nil when the text does not parse.
func (h *Hub) labelsOf(s string) (series.Key, map[string]string, bool) {
	k, err := series.Parse(s, h.opt.Limits)
	if err != nil {
		return series.Key{}, nil, false
	}
	m := map[string]string{}
	for n, v := range k.Labels() {
		m[n] = v
	}
	if k.Name() != "" {
		m["__name__"] = k.Name()
	}
	return k, m, true
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
