package api

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRequestLog(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := New(Config{}, Deps{Engine: &fakeEngine{err: fmt.Errorf("disk on fire")}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{api: a}
	e.do("GET", "/healthz", "")
	e.do("GET", "/nope", "")
	e.do("GET", "/api/v1/detect?series=cpu", "")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`level=DEBUG msg="http request" method=GET route=/healthz status=200`,
		`level=INFO msg="http request" method=GET route=unmatched status=404`,
		`level=ERROR msg="http request" method=GET route=/api/v1/detect status=500`,
	}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], "duration=") {
			t.Errorf("log line %d = %s, want it to contain %s and a duration", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[2], `error="disk on fire"`) || !strings.Contains(lines[2], "code=internal") {
		t.Errorf("5xx log line lacks the error and code: %s", lines[2])
	}
	if !strings.Contains(lines[1], "code=not_found") {
		t.Errorf("4xx log line lacks the code: %s", lines[1])
	}
}

// TestSharedRegistry checks that two APIs can register on one registry.
func TestSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	for i := 0; i < 2; i++ {
		if _, err := New(Config{}, Deps{Registerer: reg}); err != nil {
			t.Fatalf("New #%d on a shared registry: %v", i+1, err)
		}
	}
}

// TestConcurrentRequests runs ingest and queries at once over a real
// listener on loopback; run with -race.
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t, Config{})
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	var wg sync.WaitGroup
	const workers, rounds = 4, 25
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				body := fmt.Sprintf(`{"points":[{"series":"s%d","timestamp":%d,"value":%d},{"series":"bad","timestamp":1,"value":1}]}`, w, tsNow-i, i)
				resp, err := http.Post(srv.URL+"/api/v1/points", "application/json", strings.NewReader(body))
				if err != nil {
					t.Errorf("POST: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("POST status %d", resp.StatusCode)
				}
				for _, path := range []string{"/api/v1/detect?series=cpu", "/api/v1/series", "/api/v1/anomalies", "/metrics"} {
					resp, err := http.Get(srv.URL + path)
					if err != nil {
						t.Errorf("GET %s: %v", path, err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("GET %s status %d", path, resp.StatusCode)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	e.engine.mu.Lock()
	defer e.engine.mu.Unlock()
	if n := len(e.engine.ingested); n != workers*rounds {
		t.Errorf("engine stored %d points, want %d", n, workers*rounds)
	}
}

// TestCancelledRequest: a request whose context is gone is answered 503,
// not 500.
func TestCancelledRequest(t *testing.T) {
	e := newEnv(t, Config{})
	e.engine.err = context.Canceled
	wantError(t, "cancelled", e.do("GET", "/api/v1/detect?series=cpu", ""), 503, anomaly.CodeUnavailable, "", -1)
}

// nopEngine accepts everything and keeps nothing, for benchmarks.
type nopEngine struct{ fakeEngine }

func (*nopEngine) Ingest(_ context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	return anomaly.IngestResult{Accepted: len(s)}, nil
}

// BenchmarkIngestDecode measures the HTTP layer alone (decoding, per-point
// validation, answer) on batches of valid points; points/s is reported.
func BenchmarkIngestDecode(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a, err := New(Config{}, Deps{Engine: &nopEngine{}, Now: func() time.Time { return now }})
			if err != nil {
				b.Fatal(err)
			}
			var sb strings.Builder
			sb.WriteString(`{"points":[`)
			for i := 0; i < n; i++ {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"series":"play_starts{device=\"tv_sony\",title=\"%d\"}","timestamp":%d.25,"value":%d.5}`, i%1000, tsNow-i, i)
			}
			sb.WriteString(`]}`)
			body := sb.String()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				req := httptest.NewRequest("POST", "/api/v1/points", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				a.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}
