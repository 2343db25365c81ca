package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// TestIngestAdmission saturates the ingest path (one slot, held by a
// request whose engine call blocks; one request waiting) and checks that
// further ingest on every route is refused at once with 429, Retry-After
// and the route's error form, that verdict reads (GET and POST detect)
// are still answered although MaxInFlight is 1, that the waiting request
// is served once the slot comes free, and that /metrics counts it all.
func TestIngestAdmission(t *testing.T) {
	eng := &blockingEngine{fakeEngine: &fakeEngine{}, entered: make(chan struct{}, 4), release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	a, err := New(Config{MaxInFlight: 1, InFlightWait: time.Minute, RetryAfter: 2 * time.Second,
		Admission: AdmissionConfig{Slots: 1, Queue: 1, Wait: time.Minute}},
		Deps{Engine: eng, Now: func() time.Time { return now }, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	const points = `{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`
	send := func(method, target, ct, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		a.ServeHTTP(rec, req)
		return rec
	}
	first, second := make(chan *httptest.ResponseRecorder), make(chan *httptest.ResponseRecorder)
	go func() { first <- send(http.MethodPost, "/api/v1/points", "application/json", points) }()
	<-eng.entered // the only slot is taken
	go func() { second <- send(http.MethodPost, "/api/v1/points", "application/json", points) }()
	for deadline := time.Now().Add(30 * time.Second); a.admission.waiting.Load() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the second ingest request never waited for the slot")
		}
		time.Sleep(time.Millisecond)
	}

	// The queue is full: refused at once, without waiting.
	rec := send(http.MethodPost, "/api/v1/points", "application/json", points)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("POST /api/v1/points while saturated = %d, Retry-After %q, want 429 and 2 (%s)", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	var eb ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code != "overloaded" || !strings.Contains(eb.Error.Message, "--ingest-slots") {
		t.Errorf("POST /api/v1/points while saturated answered %s (%v), want a JSON error with code overloaded naming --ingest-slots", rec.Body, err)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("429 Content-Type = %q, want application/json", ct)
	}
	for _, w := range []struct{ target, ct, body string }{
		{"/api/v1/write", "application/x-protobuf", string(rwBody(t, ts("up", 1, now.UnixMilli())))},
		{"/api/v2/write?bucket=b", "text/plain", "cpu value=1 1767614400000000000\n"},
		{"/write?db=b", "text/plain", "cpu value=1 1767614400000000000\n"},
	} {
		rec := send(http.MethodPost, w.target, w.ct, w.body)
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
			t.Errorf("POST %s while saturated = %d, Retry-After %q, want 429 and 2 (%s)", w.target, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}

	// Reads bypass admission, and ingest holds no MaxInFlight turn.
	for _, r := range []struct{ method, target, ct, body string }{
		{http.MethodGet, "/api/v1/detect?series=cpu", "", ""},
		{http.MethodPost, "/api/v1/detect", "application/json", `{"series":"cpu","points":[{"timestamp":1767614400,"value":3}]}`},
		{http.MethodGet, "/healthz", "", ""},
	} {
		if rec := send(r.method, r.target, r.ct, r.body); rec.Code != http.StatusOK {
			t.Errorf("%s %s while ingest is saturated = %d, want 200 (%s)", r.method, r.target, rec.Code, rec.Body)
		}
	}

	close(eng.release)
	for i, ch := range []chan *httptest.ResponseRecorder{first, second} {
		if rec := <-ch; rec.Code != http.StatusOK {
			t.Errorf("ingest request %d = %d, want 200 (%s)", i+1, rec.Code, rec.Body)
		}
	}
	if rec := send(http.MethodPost, "/api/v1/points", "application/json", points); rec.Code != http.StatusOK {
		t.Errorf("POST /api/v1/points after the slot came back = %d, want 200 (%s)", rec.Code, rec.Body)
	}

	var buf bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			}
			if g := m.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
			buf.WriteString(name + " ")
		}
	}
	for name, want := range map[string]float64{
		"detector_ingest_admissions_total/admitted": 2, // the first and the last
		"detector_ingest_admissions_total/queued":   1,
		"detector_ingest_admissions_total/rejected": 4, // one per route
		"detector_ingest_slots_in_use":              0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v (metrics: %s)", name, got[name], want, buf.String())
		}
	}
}

// TestIngestAdmissionOff checks that negative slots turn admission off:
// ingest requests then share the MaxInFlight turns with every POST, and
// nothing else limits them.
func TestIngestAdmissionOff(t *testing.T) {
	a, err := New(Config{Admission: AdmissionConfig{Slots: -1}}, Deps{Engine: &fakeEngine{}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if a.admission.on() {
		t.Fatal("admission on with Slots -1")
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/v1/points", strings.NewReader(`{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("POST /api/v1/points = %d, want 200 (%s)", rec.Code, rec.Body)
	}
}

func TestDefaultAdmissionConfig(t *testing.T) {
	c := DefaultAdmissionConfig()
	if want := max(1, runtime.GOMAXPROCS(0)-1); c.Slots != want || c.Queue < 1 {
		t.Errorf("DefaultAdmissionConfig() = %+v, want %d slots and a queue", c, want)
	}
}

// TestIngestRun checks that the decoding and applying of every ingest
// route, and only of those, run on Deps.IngestRun, with admission on and
// off, and that the answer is the one the route gives without it.
func TestIngestRun(t *testing.T) {
	for _, slots := range []int{1, -1} {
		var runs int
		var inRun bool
		eng := &ingestRunEngine{fakeEngine: &fakeEngine{}, inRun: &inRun}
		a, err := New(Config{Admission: AdmissionConfig{Slots: slots}},
			Deps{Engine: eng, Now: func() time.Time { return now }, IngestRun: func(f func()) {
				runs++
				inRun = true
				f()
				inRun = false
			}})
		if err != nil {
			t.Fatal(err)
		}
		send := func(method, target, ct, body string) int {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(method, target, strings.NewReader(body))
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			a.ServeHTTP(rec, req)
			return rec.Code
		}
		for i, c := range []struct{ target, ct, body string }{
			{"/api/v1/points", "application/json", `{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`},
			{"/api/v1/write", "application/x-protobuf", string(rwBody(t, ts("up", 1, now.UnixMilli())))},
			{"/api/v2/write?bucket=b", "text/plain", "cpu value=1 1767614400000000000\n"},
			{"/write?db=b", "text/plain", "cpu value=1 1767614400000000000\n"},
		} {
			if code := send(http.MethodPost, c.target, c.ct, c.body); code != http.StatusOK && code != http.StatusNoContent {
				t.Errorf("slots %d: POST %s = %d", slots, c.target, code)
			}
			if runs != i+1 || eng.outside != 0 {
				t.Errorf("slots %d: POST %s: %d runs on IngestRun after %d ingest requests, %d engine calls outside it", slots, c.target, runs, i+1, eng.outside)
			}
		}
		send(http.MethodGet, "/api/v1/detect?series=cpu", "", "")
		send(http.MethodPost, "/api/v1/detect", "application/json", `{"series":"cpu","points":[{"timestamp":1767614400,"value":1}]}`)
		if runs != 4 {
			t.Errorf("slots %d: reads ran on IngestRun (%d runs, want 4)", slots, runs)
		}
	}
}

// ingestRunEngine counts the Ingest calls made outside Deps.IngestRun.
type ingestRunEngine struct {
	*fakeEngine
	inRun   *bool
	outside int
}

func (e *ingestRunEngine) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	if !*e.inRun {
		e.outside++
	}
	return e.fakeEngine.Ingest(ctx, samples)
}
