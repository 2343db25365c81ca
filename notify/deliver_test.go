package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// checkOrder asserts that every message id in want arrived at least once
// and that, per series, first arrivals come in the order of want.
func checkOrder(t *testing.T, rec []got, want map[string][]string) {
	t.Helper()
	first := map[string]int{}
	for i, g := range rec {
		if _, ok := first[g.ID]; !ok {
			first[g.ID] = i
		}
	}
	for s, ids := range want {
		prev := -1
		for _, id := range ids {
			i, ok := first[id]
			if !ok {
				t.Fatalf("series %s: message %s never arrived", s, id)
			}
			if i < prev {
				t.Fatalf("series %s: message %s arrived before an earlier event of the series", s, id)
			}
			prev = i
		}
	}
}

// A receiver that fails, times out, throttles with 429 and Retry-After,
// then recovers: every event arrives at least once, in order per series,
// each verified by the independent verifier.
func TestDeliveryThroughFailuresInOrder(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.Timeout = 500 * time.Millisecond
	h := newHub(t, o)
	r := newReceiver(t, func(n int, w http.ResponseWriter) int {
		switch {
		case n <= 3:
			return http.StatusInternalServerError
		case n == 4:
			time.Sleep(2 * time.Second) // past the 500 ms timeout
			return http.StatusOK
		case n == 5:
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		case n%7 == 0:
			return http.StatusBadGateway
		}
		return 0
	})
	w := addWebhook(t, h, r.srv.URL+"/hook", WebhookSpec{})
	r.setSecret(w.Secret)
	h.Start()

	want := map[string][]string{}
	var evs []anomaly.Event
	for s := 0; s < 5; s++ {
		name := fmt.Sprintf(`cpu{host="h%d"}`, s)
		id := anomaly.ID(s + 1)
		evs = append(evs, event(anomaly.EventOpened, id, name, t0, 0.999))
		for i := 1; i <= 4; i++ {
			evs = append(evs, event(anomaly.EventUpdated, id, name, t0.Add(time.Duration(i)*time.Minute), 0.999))
		}
		evs = append(evs, event(anomaly.EventResolved, id, name, t0.Add(5*time.Minute), 0.1))
	}
	for _, ev := range evs {
		h.Observe(ev)
		seq := log.Append(ev)
		want[ev.Series] = append(want[ev.Series], messageID(eventlog.Entry{Seq: seq, Event: ev}))
	}
	eventually(t, "all 30 events delivered", func() bool {
		seen := map[string]bool{}
		for _, g := range r.received() {
			seen[g.ID] = true
		}
		return len(seen) == len(evs)
	})
	checkOrder(t, r.received(), want)
	if len(r.bad) > 0 {
		t.Fatalf("the verifier refused %d deliveries: %v", len(r.bad), r.bad)
	}
	ds, _ := h.Deliveries(w.ID)
	if len(ds) == 0 || ds[len(ds)-1].Attempts < 2 {
		t.Fatalf("delivery log %+v: want the oldest entry retried", ds)
	}
	for _, d := range ds {
		if d.Status != "delivered" {
			t.Fatalf("delivery %+v: want delivered", d)
		}
	}
	g := r.received()[0]
	if g.Payload.Anomaly.IncidentKey == "" || g.Payload.Anomaly.Severity == "" || g.Payload.Anomaly.Labels["host"] == "" ||
		!strings.Contains(g.Payload.Links.Anomaly, "/api/v1/anomalies/") {
		t.Fatalf("payload %+v: want incident key, severity, labels and links", g.Payload)
	}
	if wh, _ := h.Webhook(w.ID); !wh.Enabled {
		t.Fatalf("webhook disabled after recoverable failures: %+v", wh)
	}
}

// 410 Gone disables the endpoint, which is itself a change event; enabling
// it again resumes at the event that was refused.
func TestGoneDisablesAndReenableResumes(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	gone := true
	r := newReceiver(t, func(n int, w http.ResponseWriter) int {
		if gone {
			return http.StatusGone
		}
		return 0
	})
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	h.Start()
	feed(h, log, event(anomaly.EventOpened, 1, `m{a="1"}`, t0, 0.999))
	eventually(t, "the endpoint disabled", func() bool { wh, _ := h.Webhook(w.ID); return !wh.Enabled })
	evs, _ := h.Events(context.Background(), EventQuery{Type: "webhook.disabled"})
	if len(evs) != 1 || evs[0].Labels["webhook_id"] != w.ID {
		t.Fatalf("change events after 410 = %+v, want one webhook.disabled", evs)
	}
	feed(h, log, event(anomaly.EventResolved, 1, `m{a="1"}`, t0.Add(time.Minute), 0.1))
	r.mu.Lock()
	gone = false
	r.mu.Unlock()
	if _, err := h.UpdateWebhook(context.Background(), w.ID, WebhookSpec{Enabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "both events after re-enabling", func() bool { return len(r.received()) >= 2 })
	if rec := r.received(); rec[0].Type != TypeAnomalyOpened || rec[1].Type != TypeAnomalyResolved {
		t.Fatalf("received %+v, want opened then resolved", rec)
	}
}

// A run of failures disables the endpoint.
func TestRunOfFailuresDisables(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.MaxFailures = 5
	h := newHub(t, o)
	r := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusInternalServerError })
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	h.Start()
	feed(h, log, event(anomaly.EventOpened, 1, `m{a="1"}`, t0, 0.999))
	eventually(t, "the endpoint disabled", func() bool { wh, _ := h.Webhook(w.ID); return !wh.Enabled })
	if n := r.requests(); n != 5 {
		t.Fatalf("attempts before disabling = %d, want 5", n)
	}
	wh, _ := h.Webhook(w.ID)
	if !strings.Contains(wh.DisabledReason, "5 delivery attempts failed") {
		t.Fatalf("reason %q", wh.DisabledReason)
	}
}

// An event still failing past the maximum age is given up and logged as
// failed; the next one is delivered.
func TestMaxAgeGivesUp(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.MaxAge = 100 * time.Millisecond
	h := newHub(t, o)
	r := newReceiver(t, nil)
	fail := true
	r.script = func(n int, w http.ResponseWriter) int {
		r.mu.Lock()
		defer r.mu.Unlock()
		if fail {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	h.Start()
	feed(h, log, event(anomaly.EventOpened, 1, `m{a="1"}`, t0, 0.999))
	eventually(t, "the first event given up", func() bool {
		ds, _ := h.Deliveries(w.ID)
		return len(ds) == 1 && ds[0].Status == "failed"
	})
	r.mu.Lock()
	fail = false
	r.mu.Unlock()
	feed(h, log, event(anomaly.EventResolved, 1, `m{a="1"}`, t0.Add(time.Minute), 0.1))
	eventually(t, "the second event delivered", func() bool { return len(r.received()) == 1 })
	if r.received()[0].Type != TypeAnomalyResolved {
		t.Fatalf("got %+v", r.received())
	}
}

// A restart in the middle of a backlog loses nothing: the second hub, on
// the same data directory, log and cursors, delivers the rest.
func TestRestartMidBacklogLosesNothing(t *testing.T) {
	dir := t.TempDir()
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.DataDir = dir
	o.Concurrency = 1
	h1, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan struct{})
	r := newReceiver(t, func(n int, w http.ResponseWriter) int {
		if n > 10 {
			<-slow
		}
		return 0
	})
	w := addWebhook(t, h1, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	var ids []string
	for i := 0; i < 200; i++ {
		ev := event(anomaly.EventUpdated, 1, `m{a="1"}`, t0.Add(time.Duration(i)*time.Second), 0.999)
		if i == 0 {
			ev.Kind = anomaly.EventOpened
		}
		h1.Observe(ev)
		ids = append(ids, messageID(eventlog.Entry{Seq: log.Append(ev), Event: ev}))
	}
	h1.Start()
	eventually(t, "ten delivered", func() bool { return len(r.received()) >= 10 })
	closed := make(chan error, 1)
	go func() { closed <- h1.Close() }()
	close(slow) // let the request in flight end so that Close returns
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	before := len(r.received())
	if before >= 200 {
		t.Fatalf("the backlog was delivered before the restart (%d)", before)
	}
	o.Registerer = nil
	h2 := newHub(t, o)
	if _, err := h2.Webhook(w.ID); err != nil {
		t.Fatalf("subscription lost across the restart: %v", err)
	}
	h2.Start()
	eventually(t, "the whole backlog", func() bool {
		seen := map[string]bool{}
		for _, g := range r.received() {
			seen[g.ID] = true
		}
		return len(seen) == 200
	})
	checkOrder(t, r.received(), map[string][]string{`m{a="1"}`: ids})
	if len(r.bad) > 0 {
		t.Fatalf("verifier refused: %v", r.bad)
	}
}

// Two endpoints: one that hangs does not delay the other.
func TestSlowEndpointDoesNotDelayOthers(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.Timeout = 20 * time.Second
	h := newHub(t, o)
	hang := make(chan struct{})
	defer close(hang)
	slow := newReceiver(t, func(int, http.ResponseWriter) int { <-hang; return 0 })
	fast := newReceiver(t, nil)
	addWebhook(t, h, slow.srv.URL, WebhookSpec{})
	w := addWebhook(t, h, fast.srv.URL, WebhookSpec{})
	fast.setSecret(w.Secret)
	h.Start()
	for i := 0; i < 50; i++ {
		feed(h, log, event(anomaly.EventOpened, anomaly.ID(i+1), fmt.Sprintf(`m{a="%d"}`, i), t0, 0.999))
	}
	eventually(t, "the fast endpoint got all 50", func() bool { return len(fast.received()) == 50 })
}

// Filters: event types, series matcher, minimum severity.
func TestWebhookFilters(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{Events: &[]string{TypeAnomalyOpened}, Match: ptr(`{env="prod"}`),
		MinSeverity: ptr(SeverityCritical)})
	r.setSecret(w.Secret)
	h.Start()
	feed(h, log,
		event(anomaly.EventOpened, 1, `m{env="dev"}`, t0, 0.99999),   // wrong series
		event(anomaly.EventOpened, 2, `m{env="prod"}`, t0, 0.5),      // info
		event(anomaly.EventResolved, 2, `m{env="prod"}`, t0, 0.5),    // wrong type
		event(anomaly.EventOpened, 3, `n{env="prod"}`, t0, 0.99999),  // wanted
		event(anomaly.EventUpdated, 3, `n{env="prod"}`, t0, 0.99999), // wrong type
	)
	feed(h, log, event(anomaly.EventOpened, 4, `z{env="prod"}`, t0, 0.99999))
	eventually(t, "two deliveries", func() bool { return len(r.received()) == 2 })
	time.Sleep(50 * time.Millisecond)
	for _, g := range r.received() {
		if g.Type != TypeAnomalyOpened || !strings.Contains(g.Series, "prod") || g.Payload.Anomaly.Severity != SeverityCritical {
			t.Fatalf("unwanted delivery %+v", g)
		}
	}
	if _, err := h.AddWebhook(context.Background(), WebhookSpec{URL: ptr(r.srv.URL), Events: &[]string{"nope"}}); err == nil {
		t.Fatal("unknown event type accepted")
	}
}

// Rotation: the new secret is returned once; both sign during the grace.
func TestRotationAndTestEvent(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	if wh, _ := h.Webhook(w.ID); wh.Secret != "" {
		t.Fatal("the secret is shown again after creation")
	}
	rot, err := h.RotateSecret(context.Background(), w.ID, time.Hour)
	if err != nil || rot.Secret == "" || rot.Secret == w.Secret || rot.PreviousSecretExpiresAt == nil {
		t.Fatalf("RotateSecret = %+v, %v", rot, err)
	}
	d, err := h.TestWebhook(context.Background(), w.ID) // verified with the old secret
	if err != nil || d.Status != "delivered" {
		t.Fatalf("test event with the old secret: %+v, %v", d, err)
	}
	r.setSecret(rot.Secret)
	if d, _ = h.TestWebhook(context.Background(), w.ID); d.Status != "delivered" {
		t.Fatalf("test event with the new secret: %+v", d)
	}
}
