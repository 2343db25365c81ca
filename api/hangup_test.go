package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestClientHangUp: a request whose client hung up (its context cancelled
// while the engine worked) is recorded as 499, not answered 503 and not
// logged at ERROR; a request that is not cancelled still gets its answer.
func TestClientHangUp(t *testing.T) {
	var log bytes.Buffer
	e := &env{engine: &fakeEngine{err: context.Canceled}, reg: prometheus.NewRegistry()}
	a, err := New(Config{}, Deps{Engine: e.engine, Registerer: e.reg,
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/api/v1/points", strings.NewReader(`{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != StatusClientClosed || rec.Body.Len() != 0 {
		t.Errorf("hung-up client: status %d body %q, want %d and no body", rec.Code, rec.Body.String(), StatusClientClosed)
	}
	if strings.Contains(log.String(), "level=ERROR") || !strings.Contains(log.String(), "status=499") {
		t.Errorf("request log = %q, want status 499 and no ERROR", log.String())
	}
	// The engine's own cancellation with the client still there is the
	// service's: 503.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("POST", "/api/v1/points", strings.NewReader(`{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	a.ServeHTTP(rec, req)
	if rec.Code != 503 {
		t.Errorf("engine cancelled on its own: status %d, want 503", rec.Code)
	}
}
