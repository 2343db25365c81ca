package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
)

// Open, resolve, reopen within the hold-down: one incident key. Past the
// hold-down: a new one.
func TestFlappingIsOneIncident(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.HoldDown = 10 * time.Minute
	h := newHub(t, o)
	s := `lat{svc="api"}`
	feed(h, log,
		event(anomaly.EventOpened, 1, s, t0, 0.999),
		event(anomaly.EventResolved, 1, s, t0.Add(time.Minute), 0.1),
		event(anomaly.EventOpened, 2, s, t0.Add(3*time.Minute), 0.999),
		event(anomaly.EventResolved, 2, s, t0.Add(4*time.Minute), 0.1),
		event(anomaly.EventOpened, 3, s, t0.Add(30*time.Minute), 0.999),
		event(anomaly.EventOpened, 4, `lat{svc="db"}`, t0.Add(3*time.Minute), 0.999),
	)
	key := func(id anomaly.ID) string {
		a := anomaly.Anomaly{ID: id, Kind: anomaly.KindPoint, Series: s, StartedAt: t0}
		h.Annotate(&a)
		return a.IncidentKey
	}
	if key(1) == "" || key(1) != key(2) {
		t.Fatalf("flap within the hold-down: keys %q and %q, want one", key(1), key(2))
	}
	if key(3) == key(1) {
		t.Fatalf("reopen after the hold-down kept key %q", key(3))
	}
	if key(4) == key(2) {
		t.Fatal("another series shares the incident key")
	}
}

func TestIncidentsSurviveRestart(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.DataDir = t.TempDir()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s := `lat{svc="api"}`
	feed(h, log, event(anomaly.EventOpened, 1, s, t0, 0.999), event(anomaly.EventResolved, 1, s, t0.Add(time.Minute), 0.1))
	a := anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: s, StartedAt: t0}
	h.Annotate(&a)
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	o.Registerer = nil
	h2 := newHub(t, o)
	feed(h2, log, event(anomaly.EventOpened, 2, s, t0.Add(2*time.Minute), 0.999))
	b := anomaly.Anomaly{ID: 2, Kind: anomaly.KindPoint, Series: s, StartedAt: t0}
	h2.Annotate(&b)
	if b.IncidentKey != a.IncidentKey {
		t.Fatalf("after a restart the flap got key %q, want %q", b.IncidentKey, a.IncidentKey)
	}
}

func TestSeverityMap(t *testing.T) {
	m := DefaultSeverityMap()
	for _, c := range []struct {
		score float64
		d     time.Duration
		want  string
	}{
		{0.5, 0, SeverityInfo}, {0.995, 0, SeverityWarning}, {0.5, 6 * time.Minute, SeverityWarning},
		{0.99999, 0, SeverityCritical}, {0.5, time.Hour, SeverityCritical},
	} {
		if got := m.Of(c.score, c.d); got != c.want {
			t.Errorf("Of(%v, %v) = %s, want %s", c.score, c.d, got, c.want)
		}
	}
	p, err := ParseSeverityMap("warning=0.9/1m,critical=0.95/2m")
	if err != nil || p.WarningScore != 0.9 || p.CriticalDuration != 2*time.Minute {
		t.Fatalf("ParseSeverityMap = %+v, %v", p, err)
	}
	for _, bad := range []string{"warning=2/1m", "bogus=0.9/1m", "warning=0.9", "critical=0.9/-1m"} {
		if _, err := ParseSeverityMap(bad); err == nil {
			t.Errorf("ParseSeverityMap(%q) accepted", bad)
		}
	}
}

// A silence suppresses the notification, the anomaly keeps its record and
// is marked silenced; outside the window notifications flow again.
func TestSilenceSuppressesButKeepsRecord(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	sil, err := h.AddSilence(context.Background(), Silence{Matchers: `{svc="api"}`, StartsAt: t0, EndsAt: t0.Add(time.Hour),
		Comment: "maintenance", Author: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	feed(h, log,
		event(anomaly.EventOpened, 1, `lat{svc="api"}`, t0.Add(time.Minute), 0.999),       // silenced
		event(anomaly.EventOpened, 2, `lat{svc="db"}`, t0.Add(time.Minute), 0.999),        // not matched
		event(anomaly.EventOpened, 3, `lat{svc="api",x="1"}`, t0.Add(2*time.Hour), 0.999), // after the window
	)
	eventually(t, "two deliveries", func() bool { return len(r.received()) == 2 })
	time.Sleep(50 * time.Millisecond)
	for _, g := range r.received() {
		if g.Payload.Anomaly.ID == 1 {
			t.Fatal("a silenced anomaly was notified")
		}
	}
	a := anomaly.Anomaly{ID: 1, Kind: anomaly.KindPoint, Series: `lat{svc="api"}`, StartedAt: t0.Add(time.Minute)}
	h.Annotate(&a)
	if !a.Silenced {
		t.Fatal("the silenced anomaly is not marked silenced")
	}
	if got := h.Silences(); len(got) != 1 || got[0].ID != sil.ID || got[0].Author != "ops" {
		t.Fatalf("Silences = %+v", got)
	}
	if err := h.DeleteSilence(context.Background(), sil.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteSilence(context.Background(), sil.ID); err == nil {
		t.Fatal("deleting twice succeeded")
	}
	for _, bad := range []Silence{{Matchers: "", EndsAt: t0}, {Matchers: `{a="1"}`, StartsAt: t0, EndsAt: t0}, {Matchers: `{a=`, EndsAt: t0}} {
		if _, err := h.AddSilence(context.Background(), bad); err == nil {
			t.Errorf("AddSilence(%+v) accepted", bad)
		}
	}
}

func TestSkipLearningFilter(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.DataDir = t.TempDir()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if h.Active() || h.SkipLearning(`m{a="1"}`, t0) {
		t.Fatal("active without silences")
	}
	h.AddSilence(context.Background(), Silence{Matchers: `{a="1"}`, StartsAt: t0, EndsAt: t0.Add(time.Hour)})
	if h.Active() {
		t.Fatal("a silence without skip_learning activates the filter")
	}
	h.AddSilence(context.Background(), Silence{Matchers: `m{a="1"}`, StartsAt: t0, EndsAt: t0.Add(time.Hour), SkipLearning: true})
	for _, c := range []struct {
		s    string
		at   time.Time
		want bool
	}{
		{`m{a="1"}`, t0, true}, {`m{b="2", a="1"}`, t0.Add(time.Minute), true}, {`m{a="2"}`, t0, false},
		{`m{a="1"}`, t0.Add(-time.Second), false}, {`m{a="1"}`, t0.Add(time.Hour), false}, {`n{a="1"}`, t0, false},
	} {
		if got := h.SkipLearning(c.s, c.at); got != c.want {
			t.Errorf("SkipLearning(%s, %v) = %v, want %v", c.s, c.at, got, c.want)
		}
	}
	h.Close()
	o.Registerer = nil
	h2 := newHub(t, o)
	if !h2.SkipLearning(`m{a="1"}`, t0) || len(h2.Silences()) != 2 {
		t.Fatal("silences lost across a restart")
	}
}

// Change events: stored, queried, listed as possible causes of anomalies
// on series sharing their labels shortly after, in the annotation and in
// the webhook payload.
func TestChangeEventsAndPossibleCauses(t *testing.T) {
	o := fastOptions(eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors())
	o.CauseWindow = 15 * time.Minute
	o.DataDir = t.TempDir()
	o.Now = func() time.Time { return t0.Add(time.Hour) }
	h := newHub(t, o)
	ctx := context.Background()
	deploy, err := h.AddEvent(ctx, ChangeEvent{Type: "deploy", Labels: map[string]string{"svc": "api"}, Desc: "v2.3.1",
		Fields: map[string]any{"commit": "abc123"}, At: t0.Add(-5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	h.AddEvent(ctx, ChangeEvent{Type: "config", Labels: map[string]string{"svc": "db"}, At: t0.Add(-5 * time.Minute)})
	h.AddEvent(ctx, ChangeEvent{Type: "deploy", Labels: map[string]string{"svc": "api"}, At: t0.Add(-time.Hour)})  // too early
	h.AddEvent(ctx, ChangeEvent{Type: "deploy", Labels: map[string]string{"svc": "api"}, At: t0.Add(time.Minute)}) // after
	if _, err := h.AddEvent(ctx, ChangeEvent{Labels: map[string]string{"a": "b"}}); err == nil {
		t.Fatal("an event without a type was accepted")
	}
	if _, err := h.AddEvent(ctx, ChangeEvent{Type: "deploy", Desc: strings.Repeat("x", MaxEventBytes)}); err == nil {
		t.Fatal("an event over MaxEventBytes was accepted")
	}
	got, err := h.Events(ctx, EventQuery{Match: `{svc="api"}`, Type: "deploy", Since: t0.Add(-10 * time.Minute)})
	if err != nil || len(got) != 2 {
		t.Fatalf("Events(svc=api, deploy, since -10m) = %d events, %v; want 2", len(got), err)
	}
	if got, _ := h.Events(ctx, EventQuery{Until: t0}); len(got) != 3 {
		t.Fatalf("Events(until t0) = %d, want 3", len(got))
	}
	a := anomaly.Anomaly{ID: 7, Kind: anomaly.KindPoint, Series: `lat{svc="api",pod="p1"}`, StartedAt: t0}
	h.Annotate(&a)
	if a.PossibleCauses == nil {
		t.Fatal("no possible causes, want the deploy 5 minutes before")
	}
	if cs := *a.PossibleCauses; len(cs) != 1 || cs[0].EventID != deploy.ID || cs[0].Desc != "v2.3.1" {
		t.Fatalf("possible causes %+v, want the deploy 5 minutes before", cs)
	}
	// restart keeps the events
	h.Close()
	o.Registerer = nil
	h2 := newHub(t, o)
	if got, _ := h2.Events(ctx, EventQuery{}); len(got) != 4 {
		t.Fatalf("after a restart %d events, want 4", len(got))
	}
}

func TestPayloadCarriesCauses(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	h := newHub(t, fastOptions(log, cur))
	now := time.Now().UTC()
	h.AddEvent(context.Background(), ChangeEvent{Type: "deploy", Labels: map[string]string{"svc": "api"}, At: now.Add(-time.Minute)})
	r := newReceiver(t, nil)
	w := addWebhook(t, h, r.srv.URL, WebhookSpec{})
	r.setSecret(w.Secret)
	h.Start()
	feed(h, log, event(anomaly.EventOpened, 1, `lat{svc="api"}`, now, 0.999))
	eventually(t, "a delivery", func() bool { return len(r.received()) == 1 })
	if c := r.received()[0].Payload.PossibleCauses; len(c) != 1 || c[0].Type != "deploy" {
		t.Fatalf("payload causes %+v", c)
	}
}

// SSRF: without the allow-list, loopback, metadata, mapped and unspecified
// destinations are refused when subscribing; a hostname resolving to a
// private address and a redirect to loopback are refused when connecting.
func TestSSRFRefused(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.Guard = netguard.New(nil)
	h := newHub(t, o)
	for _, u := range []string{"http://127.0.0.1/", "http://[::1]:8080/", "http://169.254.169.254/latest/meta-data/",
		"http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://10.0.0.1/", "file:///etc/passwd", "http://user:pw@example.com/"} {
		if _, err := h.AddWebhook(context.Background(), WebhookSpec{URL: ptr(u)}); err == nil {
			t.Errorf("AddWebhook(%s) accepted", u)
		}
	}
	// A name resolving to 127.0.0.1 passes the URL check and is refused
	// when dialling; the receiver never sees a request.
	r := newReceiver(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(r.srv.URL, "http://"))
	w := addWebhook(t, h, "http://localhost:"+port+"/", WebhookSpec{})
	d, _ := h.TestWebhook(context.Background(), w.ID)
	if d.Status != "failed" || !strings.Contains(d.LastError, "not allowed") || r.requests() != 0 {
		t.Fatalf("delivery to localhost: %+v, %d requests", d, r.requests())
	}

	// A redirect to loopback: the allowed receiver on 127.0.0.1 redirects
	// to [::1], which the allow-list does not open.
	o2 := fastOptions(eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors())
	h2 := newHub(t, o2)
	target := newReceiver(t, nil)
	_, tport, _ := net.SplitHostPort(strings.TrimPrefix(target.srv.URL, "http://"))
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://[::1]:"+tport+"/", http.StatusTemporaryRedirect)
	}))
	defer redir.Close()
	w2 := addWebhook(t, h2, redir.URL, WebhookSpec{})
	d, _ = h2.TestWebhook(context.Background(), w2.ID)
	if d.Status != "failed" || !strings.Contains(d.LastError, "not allowed") {
		t.Fatalf("redirect to loopback: %+v", d)
	}
}

// Resolved incidents older than the retention (in event time) are dropped
// from the table and from notify.db.
func TestIncidentRetention(t *testing.T) {
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.DataDir = t.TempDir()
	o.IncidentRetention = time.Hour
	h := newHub(t, o)
	feed(h, log, event(anomaly.EventOpened, 1, `a{x="1"}`, t0, 0.999), event(anomaly.EventResolved, 1, `a{x="1"}`, t0.Add(time.Minute), 0.1),
		event(anomaly.EventOpened, 2, `a{x="2"}`, t0.Add(2*time.Hour), 0.999))
	if err := h.flush(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	_, old := h.incidents[1]
	_, open := h.incidents[2]
	h.mu.Unlock()
	if old || !open {
		t.Fatalf("after pruning: old incident kept %v, open one kept %v; want false, true", old, open)
	}
	n := 0
	h.kv.each(bucketIncidents, func(string, []byte) error { n++; return nil })
	if n != 1 {
		t.Fatalf("notify.db holds %d incidents, want 1", n)
	}
}
