package api

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/eventlog"
	"github.com/anomalyd/detector/netguard"
	"github.com/anomalyd/detector/notify"
)

func newNotifyEnv(t *testing.T) *env {
	t.Helper()
	hub, err := notify.New(notify.Options{
		Log: eventlog.NewMemory(0, 0), Cursors: eventlog.NewMemoryCursors(),
		Guard:      netguard.New([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}),
		Registerer: prometheus.NewRegistry(),
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	e := &env{engine: &fakeEngine{}, timeline: &fakeTimeline{}, reg: prometheus.NewRegistry(), ready: true}
	a, err := New(Config{}, Deps{Engine: e.engine, Timeline: e.timeline, Notify: hub, Registerer: e.reg,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	e.api = a
	return e
}

func TestNotifyRoutesUnavailableWithout(t *testing.T) {
	e := newEnv(t, Config{})
	wantError(t, "GET /webhooks without notifications", e.do("GET", "/api/v1/webhooks", ""), 503, "unavailable", "", -1)
}

func TestWebhookRoutes(t *testing.T) {
	e := newNotifyEnv(t)
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("webhook-signature") != "" {
			hits++
		}
		w.WriteHeader(204)
	}))
	defer srv.Close()

	wantError(t, "loopback refused", e.do("POST", "/api/v1/webhooks", `{"url":"http://[::1]/x"}`), 400, "invalid_argument", "url", -1)
	wantError(t, "metadata refused", e.do("POST", "/api/v1/webhooks", `{"url":"http://169.254.169.254/"}`), 400, "invalid_argument", "url", -1)
	wantError(t, "unknown field", e.do("POST", "/api/v1/webhooks", `{"url":"`+srv.URL+`","secret":"x"}`), 400, "invalid_json", "secret", -1)
	wantError(t, "no url", e.do("POST", "/api/v1/webhooks", `{"events":["anomaly.opened"]}`), 400, "missing_field", "url", -1)

	rec := e.do("POST", "/api/v1/webhooks", `{"url":"`+srv.URL+`","events":["anomaly.opened"],"match":"{env=\"prod\"}"}`)
	if rec.Code != 201 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	var w notify.Webhook
	json.Unmarshal(rec.Body.Bytes(), &w)
	if !strings.HasPrefix(w.Secret, "whsec_") || w.ID == "" || !w.Enabled {
		t.Fatalf("created %+v", w)
	}
	rec = e.do("GET", "/api/v1/webhooks", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "whsec_") || !strings.Contains(rec.Body.String(), w.ID) {
		t.Fatalf("list = %d %s: want the subscription without its secret", rec.Code, rec.Body)
	}
	rec = e.do("PATCH", "/api/v1/webhooks/"+w.ID, `{"enabled":false,"min_severity":"critical"}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"enabled":false`) || !strings.Contains(rec.Body.String(), `"min_severity":"critical"`) {
		t.Fatalf("patch = %d %s", rec.Code, rec.Body)
	}
	rec = e.do("POST", "/api/v1/webhooks/"+w.ID+"/rotate", `{"grace_seconds":60}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "whsec_") || strings.Contains(rec.Body.String(), w.Secret) {
		t.Fatalf("rotate = %d %s", rec.Code, rec.Body)
	}
	// As `curl -X POST` sends it: no body, no Content-Type.
	rec = httptest.NewRecorder()
	e.api.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/webhooks/"+w.ID+"/test", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"delivered"`) || hits != 1 {
		t.Fatalf("test = %d %s, receiver hits %d", rec.Code, rec.Body, hits)
	}
	rec = e.do("GET", "/api/v1/webhooks/"+w.ID+"/deliveries", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "webhook.test") {
		t.Fatalf("deliveries = %d %s", rec.Code, rec.Body)
	}
	if rec = e.do("DELETE", "/api/v1/webhooks/"+w.ID, ""); rec.Code != 204 {
		t.Fatalf("delete = %d", rec.Code)
	}
	wantError(t, "deleted", e.do("GET", "/api/v1/webhooks/"+w.ID, ""), 404, "not_found", "", -1)
}

func TestSilenceAndEventRoutes(t *testing.T) {
	e := newNotifyEnv(t)
	rec := e.do("POST", "/api/v1/silences", `{"matchers":"{series=\"cpu\"}","starts_at":"2026-01-01T00:00:00Z","ends_at":"2030-01-01T00:00:00Z","comment":"upgrade","author":"ops","skip_learning":true}`)
	if rec.Code != 201 {
		t.Fatalf("silence = %d %s", rec.Code, rec.Body)
	}
	var s notify.Silence
	json.Unmarshal(rec.Body.Bytes(), &s)
	if !s.SkipLearning || s.ID == "" {
		t.Fatalf("silence %+v", s)
	}
	wantError(t, "bad window", e.do("POST", "/api/v1/silences", `{"matchers":"{a=\"b\"}","ends_at":"2000-01-01T00:00:00Z"}`), 400, "invalid_argument", "ends_at", -1)
	if rec = e.do("GET", "/api/v1/silences", ""); !strings.Contains(rec.Body.String(), s.ID) {
		t.Fatalf("silences %s", rec.Body)
	}
	if rec = e.do("DELETE", "/api/v1/silences/"+s.ID, ""); rec.Code != 204 {
		t.Fatalf("delete silence = %d", rec.Code)
	}
	wantError(t, "delete again", e.do("DELETE", "/api/v1/silences/"+s.ID, ""), 404, "not_found", "", -1)

	at := now.Add(-5 * time.Minute).Format(time.RFC3339)
	rec = e.do("POST", "/api/v1/events", `{"type":"deploy","labels":{"svc":"api"},"desc":"v1.2","fields":{"commit":"abc"},"at":"`+at+`"}`)
	if rec.Code != 201 {
		t.Fatalf("event = %d %s", rec.Code, rec.Body)
	}
	wantError(t, "event without type", e.do("POST", "/api/v1/events", `{"labels":{}}`), 400, "invalid_argument", "type", -1)
	rec = e.do("GET", `/api/v1/events?type=deploy&match={svc="api"}`, "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"desc":"v1.2"`) {
		t.Fatalf("events = %d %s", rec.Code, rec.Body)
	}
	// The timeline's anomaly on cpu{svc="api"} lists the deploy.
	rec = e.do("GET", `/api/v1/anomalies?series=cpu{svc="api"}`, "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"possible_causes":[{`) || !strings.Contains(rec.Body.String(), `"incident_key":"inc_`) ||
		!strings.Contains(rec.Body.String(), `"severity":`) {
		t.Fatalf("anomalies = %d %s: want severity, incident key and the deploy as a possible cause", rec.Code, rec.Body)
	}
	if rec = e.do("GET", "/api/v1/anomalies/7", ""); !strings.Contains(rec.Body.String(), `"incident_key"`) {
		t.Fatalf("anomaly = %s", rec.Body)
	}
}
