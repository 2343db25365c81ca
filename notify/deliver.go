package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// Message is the body of every webhook delivery, as the Standard Webhooks
// specification shapes it.
type Message struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// Payload is the data of an anomaly or peer-outlier event.
type Payload struct {
	Anomaly        PayloadAnomaly  `json:"anomaly"`
	PossibleCauses []anomaly.Cause `json:"possible_causes"`
	Links          Links           `json:"links"`
}

// PayloadAnomaly describes the anomaly of an event. Verdict is the verdict
// of the point that caused the event, Peak the highest-scoring one so far.
type PayloadAnomaly struct {
	ID          anomaly.ID        `json:"id"`
	Kind        string            `json:"kind"`
	Series      string            `json:"series"`
	Labels      map[string]string `json:"labels"`
	Severity    string            `json:"severity"`
	IncidentKey string            `json:"incident_key"`
	StartedAt   time.Time         `json:"started_at"`
	EndedAt     *time.Time        `json:"ended_at"`
	Verdict     anomaly.Verdict   `json:"verdict"`
	Peak        anomaly.Verdict   `json:"peak"`
}

// Links point at the anomaly and its series in the API.
type Links struct {
	Anomaly string `json:"anomaly"`
	Series  string `json:"series"`
}

// messageID is the webhook-id of an event: the same for every attempt and
// every endpoint, the receiver's idempotency key.
func messageID(e eventlog.Entry) string {
	return "msg_" + strconv.FormatUint(uint64(e.Event.AnomalyID), 10) + "_" + strconv.FormatUint(e.Seq, 10)
}

// payload builds the data of an event.
func (h *Hub) payload(ev anomaly.Event) (Payload, incident) {
	inc := h.incidentOf(ev)
	_, labels, _ := h.labelsOf(ev.Series)
	if labels == nil {
		labels = map[string]string{}
	}
	var ended *time.Time
	if ev.Kind == anomaly.EventResolved {
		at := ev.At
		ended = &at
	}
	causes := h.Causes(ev.Series, inc.StartedAt)
	if causes == nil {
		causes = []anomaly.Cause{}
	}
	return Payload{
		Anomaly: PayloadAnomaly{ID: ev.AnomalyID, Kind: ev.AnomalyKind, Series: ev.Series, Labels: labels,
			Severity: h.severityAt(inc, ev.At), IncidentKey: inc.Key, StartedAt: inc.StartedAt, EndedAt: ended,
			Verdict: ev.Verdict, Peak: inc.Peak},
		PossibleCauses: causes,
		Links: Links{Anomaly: h.opt.BaseURL + "/api/v1/anomalies/" + ev.AnomalyID.String(),
			Series: h.opt.BaseURL + "/api/v1/series/" + url.PathEscape(ev.Series)},
	}, inc
}

// bodyCacheSize is the number of recent event bodies kept, so that the
// endpoints delivering one event build its body once.
const bodyCacheSize = 1024

type cachedBody struct {
	seq  uint64
	body []byte
}

// body returns the JSON body of the delivery of e, built once for every
// endpoint (the bodies of the last bodyCacheSize events are kept).
func (h *Hub) body(e eventlog.Entry) ([]byte, error) {
	slot := &h.bodies[e.Seq%bodyCacheSize]
	h.bodyMu.Lock()
	if slot.seq == e.Seq && slot.body != nil {
		b := slot.body
		h.bodyMu.Unlock()
		return b, nil
	}
	h.bodyMu.Unlock()
	p, _ := h.payload(e.Event)
	b, err := json.Marshal(Message{Type: typeOf(e.Event), Timestamp: e.Event.At, Data: p})
	if err != nil {
		return nil, err
	}
	h.bodyMu.Lock()
	*slot = cachedBody{seq: e.Seq, body: b}
	h.bodyMu.Unlock()
	return b, nil
}

// startEndpointLocked starts the delivery goroutine of an enabled
// endpoint once the hub runs. h.mu held.
func (h *Hub) startEndpointLocked(ep *endpoint) {
	if !h.started || h.closed || ep.cancel != nil {
		return
	}
	ep.mu.Lock()
	enabled := ep.w.Enabled
	ep.mu.Unlock()
	if !enabled {
		return
	}
	ctx, cancel := context.WithCancel(h.runCtx)
	ep.cancel, ep.done = cancel, make(chan struct{})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(ep.done)
		// A cursor behind the subscription's start was lost (a crash
		// before the log saved it): resume at the start, not at the
		// log's oldest entry. A log that is behind the start was
		// replaced; its positions mean nothing to the old start.
		if c, err := h.opt.Cursors.Load(cursorName(ep.id)); err == nil && c < ep.start && ep.start <= h.opt.Log.Last() {
			h.opt.Cursors.Save(cursorName(ep.id), ep.start)
		}
		eventlog.Run(ctx, h.opt.Log, h.opt.Cursors, cursorName(ep.id), ep.handle, eventlog.RunOptions{
			Batch: 64, RetryDelay: h.opt.BackoffMin,
			OnLag: func(lag uint64) { h.m.lag.WithLabelValues(ep.id).Set(float64(lag)) },
		})
	}()
}

// stopEndpoint stops the delivery goroutine and waits for it.
func (h *Hub) stopEndpoint(ep *endpoint) {
	h.mu.Lock()
	cancel, done := ep.cancel, ep.done
	ep.cancel, ep.done = nil, nil
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

var laneSeed = maphash.MakeSeed()

// handle delivers one batch of the log: the events the endpoint wants, in
// order per series, at most Concurrency at once over distinct series. It
// returns nil once every event was delivered (or given up after MaxAge),
// so the cursor moves past the batch.
func (ep *endpoint) handle(ctx context.Context, batch []eventlog.Entry) error {
	lanes := make([][]eventlog.Entry, ep.h.opt.Concurrency)
	n := 0
	for _, e := range batch {
		if !ep.wants(e.Event) {
			continue
		}
		i := maphash.String(laneSeed, e.Event.Series) % uint64(len(lanes))
		lanes[i] = append(lanes[i], e)
		n++
	}
	if n == 0 {
		return nil
	}
	errs := make([]error, len(lanes))
	var wg sync.WaitGroup
	for i, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, e := range lane {
				if err := ep.deliver(ctx, e); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wants reports whether the endpoint subscribes to the event, and counts
// the silenced ones.
func (ep *endpoint) wants(ev anomaly.Event) bool {
	if !notifiable(ev) {
		return false
	}
	ep.mu.Lock()
	w, ms := ep.w, ep.ms
	ep.mu.Unlock()
	t := typeOf(ev)
	if len(w.Events) > 0 {
		found := false
		for _, x := range w.Events {
			found = found || x == t
		}
		if !found {
			return false
		}
	}
	if len(ms) > 0 {
		k, _, ok := ep.h.labelsOf(ev.Series)
		if !ok || !ms.Matches(k) {
			return false
		}
	}
	if w.MinScore > 0 || w.MinSeverity != "" {
		inc := ep.h.incidentOf(ev)
		if max(inc.Peak.Score, ev.Verdict.Score) < w.MinScore {
			return false
		}
		if severityRank[ep.h.severityAt(inc, ev.At)] < severityRank[w.MinSeverity] {
			return false
		}
	}
	if ep.h.silencedAt(ev.Series, ev.At) {
		ep.h.m.silenced.Inc()
		return false
	}
	return true
}

// errDisabled ends a batch when the endpoint was disabled.
var errDisabled = errors.New("webhook endpoint disabled")

// attempt is the outcome of one POST.
type attempt struct {
	code       int
	retryAfter time.Duration
	latency    time.Duration
	err        error
}

// deliver sends one event until it is delivered, the endpoint is disabled,
// the event is older than MaxAge (given up, nil) or ctx ends.
func (ep *endpoint) deliver(ctx context.Context, e eventlog.Entry) error {
	h := ep.h
	body, err := h.body(e)
	if err != nil {
		return err
	}
	mid := messageID(e)
	d := Delivery{MessageID: mid, Seq: e.Seq, Type: typeOf(e.Event), AnomalyID: e.Event.AnomalyID, FirstTry: h.opt.Now().UTC()}
	for {
		res := ep.post(ctx, mid, body)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.Attempts++
		d.LastTry, d.LastCode, d.LatencyMs = h.opt.Now().UTC(), res.code, float64(res.latency.Microseconds())/1000
		d.LastError = ""
		if res.err != nil {
			d.LastError = res.err.Error()
		} else if res.code/100 != 2 {
			d.LastError = fmt.Sprintf("answered %d", res.code)
		}
		switch {
		case res.err == nil && res.code/100 == 2:
			d.Status = "delivered"
			ep.record(d)
			ep.mu.Lock()
			ep.failRun = 0
			ep.mu.Unlock()
			h.m.delivered.WithLabelValues(ep.id).Inc()
			return nil
		case res.code == http.StatusGone:
			d.Status = "disabled"
			ep.record(d)
			ep.disable(fmt.Sprintf("the endpoint answered 410 Gone to %s", mid))
			return errDisabled
		}
		h.m.retries.WithLabelValues(ep.id).Inc()
		if res.code != http.StatusTooManyRequests {
			ep.mu.Lock()
			ep.failRun++
			run := ep.failRun
			ep.mu.Unlock()
			if run >= h.opt.MaxFailures {
				d.Status = "disabled"
				ep.record(d)
				ep.disable(fmt.Sprintf("%d delivery attempts failed in a row; last: %s", run, d.LastError))
				return errDisabled
			}
		}
		if h.opt.Now().Sub(d.FirstTry) >= h.opt.MaxAge {
			d.Status = "failed"
			ep.record(d)
			h.m.failed.WithLabelValues(ep.id).Inc()
			h.log.Warn("webhook event given up after the maximum age", "webhook", ep.id, "message", mid,
				"attempts", d.Attempts, "err", d.LastError)
			return nil
		}
		d.Status = "retrying"
		ep.record(d)
		wait := h.backoff(d.Attempts)
		if res.retryAfter > wait {
			wait = min(res.retryAfter, h.opt.MaxRetryAfter)
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// backoff is the pause after the n-th failed attempt: exponential from
// BackoffMin, capped at BackoffMax, with jitter over its upper half.
func (h *Hub) backoff(n int) time.Duration {
	d := h.opt.BackoffMin
	for i := 1; i < n && d < h.opt.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, h.opt.BackoffMax)
	return d/2 + rand.N(d/2+1)
}

// post sends one signed message.
func (ep *endpoint) post(ctx context.Context, mid string, body []byte) attempt {
	h := ep.h
	ep.mu.Lock()
	target := ep.w.URL
	now := h.opt.Now()
	var secrets []string
	for _, s := range ep.secrets {
		if s.ExpiresAt == nil || s.ExpiresAt.After(now) {
			secrets = append(secrets, s.Secret)
		}
	}
	ep.mu.Unlock()
	ts := now.Unix()
	sig, err := SignatureHeader(secrets, mid, ts, body)
	if err != nil {
		return attempt{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "anomalyd-detector-webhooks")
	req.Header.Set("webhook-id", mid)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := h.client().Do(req)
	lat := time.Since(start)
	if err != nil {
		return attempt{err: err, latency: lat}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return attempt{code: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"), now), latency: lat}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// client is the guarded HTTP client shared by the endpoints.
func (h *Hub) client() *http.Client {
	h.clientOnce.Do(func() { h.httpClient = h.opt.Guard.Client(h.opt.Timeout) })
	return h.httpClient
}

// disable turns the endpoint off from its own delivery goroutine, records
// a change event saying so and stops delivery (the cursor stays before
// the event that was not delivered).
func (ep *endpoint) disable(reason string) {
	h := ep.h
	h.AddEvent(context.Background(), ChangeEvent{Type: "webhook.disabled",
		Labels: map[string]string{"webhook_id": ep.id}, Desc: reason})
	ep.mu.Lock()
	ep.w.Enabled, ep.w.DisabledReason, ep.w.UpdatedAt = false, reason, h.opt.Now().UTC()
	ep.mu.Unlock()
	if err := h.saveEndpoint(ep); err != nil {
		h.log.Warn("saving disabled webhook", "webhook", ep.id, "err", err)
	}
	h.m.disabled.Inc()
	h.log.Warn("webhook endpoint disabled", "webhook", ep.id, "reason", reason)
	h.mu.Lock()
	cancel := ep.cancel // stopEndpoint still waits for the goroutine to end
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}
