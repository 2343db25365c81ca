package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
)

// loopback is the guard of the tests: 127.0.0.1 allowed, nothing else.
var loopback = netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")})

// fastOptions are options for tests: quick backoff, short timeouts.
func fastOptions(log eventlog.Log, cur eventlog.Cursors) Options {
	return Options{
		Log: log, Cursors: cur, Guard: loopback,
		Timeout: 2 * time.Second, BackoffMin: 5 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		MaxRetryAfter: 2 * time.Second, HoldDown: time.Minute, Registerer: prometheus.NewRegistry(),
	}
}

func newHub(t *testing.T, o Options) *Hub {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// event returns an event of a point anomaly.
func event(kind anomaly.EventKind, id anomaly.ID, s string, at time.Time, score float64) anomaly.Event {
	return anomaly.Event{Kind: kind, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: s, At: at,
		Verdict: anomaly.Verdict{Series: s, Timestamp: at, Value: 100, Expected: 10, Lower: 5, Upper: 15,
			Score: score, State: anomaly.StateAnomalous, Detector: "robust_z", AnomalyID: id}}
}

// feed does what the write path does with an event: the hub observes it,
// then it is appended to the log.
func feed(h *Hub, log eventlog.Log, evs ...anomaly.Event) {
	for _, ev := range evs {
		h.Observe(ev)
		log.Append(ev)
	}
}

// got is one request a receiver accepted.
type got struct {
	ID      string
	Type    string
	Series  string
	Payload Payload
}

// receiver is a webhook endpoint on 127.0.0.1 that verifies every request
// with the independent verifier and answers what script says for the n-th
// request (from 1); 0 means 204 and the request counts as received.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	n      int
	got    []got
	bad    []string
	script func(n int, w http.ResponseWriter) int
}

func newReceiver(t *testing.T, script func(n int, w http.ResponseWriter) int) *receiver {
	r := &receiver{t: t, script: script}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	n, secret, script := r.n, r.secret, r.script
	r.mu.Unlock()
	if script != nil {
		if code := script(n, w); code != 0 {
			w.WriteHeader(code)
			return
		}
	}
	if err := verifySpec(secret, req.Header, body, time.Now()); err != nil {
		r.mu.Lock()
		r.bad = append(r.bad, err.Error())
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m struct {
		Type string  `json:"type"`
		Data Payload `json:"data"`
	}
	json.Unmarshal(body, &m)
	r.mu.Lock()
	r.got = append(r.got, got{ID: req.Header.Get("webhook-id"), Type: m.Type, Series: m.Data.Anomaly.Series, Payload: m.Data})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) received() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]got(nil), r.got...)
}

func (r *receiver) requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// eventually polls cond every 10 ms for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }

func addWebhook(t *testing.T, h *Hub, url string, spec WebhookSpec) Webhook {
	t.Helper()
	spec.URL = &url
	w, err := h.AddWebhook(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}
