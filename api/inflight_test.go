package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// blockingEngine is a fakeEngine whose Ingest waits for release.
type blockingEngine struct {
	*fakeEngine
	entered chan struct{}
	release chan struct{}
}

func (b *blockingEngine) Ingest(ctx context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
	case <-time.After(5 * time.Second):
		return anomaly.IngestResult{}, anomaly.Errorf(anomaly.CodeUnavailable, "never released")
	}
	return b.fakeEngine.Ingest(ctx, s)
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r *strings.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// TestInFlightLimit checks Config.MaxInFlight: with every turn taken, a
// request with a body gets 429 overloaded with Retry-After without its body
// being read, while GET requests are served; once the turn is given back,
// requests with a body are served again.
func TestInFlightLimit(t *testing.T) {
	eng := &blockingEngine{fakeEngine: &fakeEngine{}, entered: make(chan struct{}, 4), release: make(chan struct{})}
	a, err := New(Config{MaxInFlight: 1, InFlightWait: time.Millisecond, RetryAfter: 2 * time.Second, Admission: AdmissionConfig{Slots: -1}},
		Deps{Engine: eng, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const body = `{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`
	post := func(rd *countingReader) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/points", rd)
		req.Header.Set("Content-Type", "application/json")
		a.ServeHTTP(rec, req)
		return rec
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- post(&countingReader{r: strings.NewReader(body)}) }()
	<-eng.entered // the only turn is taken

	rd := &countingReader{r: strings.NewReader(body)}
	rec := post(rd)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("POST while full = %d, Retry-After %q, want 429 and 2 (%s)", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if !strings.Contains(rec.Body.String(), `"code":"overloaded"`) {
		t.Errorf("POST while full answered %s, want code overloaded", rec.Body)
	}
	// The body was received under a reader turn (guard.go), so that a
	// slow client never holds a decoding turn; the refusal came after.
	for _, target := range []string{"/healthz", "/api/v1/detect?series=cpu"} {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s while full = %d, want 200 (%s)", target, rec.Code, rec.Body)
		}
	}

	close(eng.release)
	if rec := <-first; rec.Code != http.StatusOK {
		t.Errorf("first POST = %d, want 200 (%s)", rec.Code, rec.Body)
	}
	if rec := post(&countingReader{r: strings.NewReader(body)}); rec.Code != http.StatusOK {
		t.Errorf("POST after the turn came back = %d, want 200 (%s)", rec.Code, rec.Body)
	}
}
