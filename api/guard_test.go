package api

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSlowBodyIs408: a body that stops arriving is answered 408 in the
// JSON error format once its deadline passes, not 400 after minutes.
func TestSlowBodyIs408(t *testing.T) {
	e := newEnv(t, Config{Guard: GuardConfig{BodyGrace: 200 * time.Millisecond, BodyMinRate: 1 << 20}})
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /api/v1/points HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"points\":[")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 408") || !strings.Contains(string(b), `"code":"request_timeout"`) {
		t.Errorf("answer to a stalled body = %q, want 408 request_timeout", b)
	}
	if e.engine.calls != 0 {
		t.Error("the engine was called")
	}
}

func TestDeclaredLengthOverLimit(t *testing.T) {
	e := newEnv(t, Config{MaxBodyBytes: 1024})
	req := httptest.NewRequest("POST", "/api/v1/points", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = 64 << 20 // declared, not sent: refused before any allocation
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	wantError(t, "declared 64 MiB", rec, 413, "body_too_large", "", -1)
}

func TestGuardedRequests(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"points":[{"series":"cpu","timestamp":1767614400,"value":1}]}`))
	zw.Close()
	for _, tc := range []struct {
		name, method, target, ct, enc, origin, host, body string
		status                                            int
	}{
		{"text/plain", "POST", "/api/v1/points", "text/plain", "", "", "", `{"points":[]}`, 415},
		{"form", "POST", "/api/v1/points", "application/x-www-form-urlencoded", "", "", "", `{"points":[]}`, 415},
		{"unknown encoding", "POST", "/api/v1/points", "application/json", "br", "", "", `{"points":[]}`, 415},
		{"gzip", "POST", "/api/v1/points", "application/json", "gzip", "", "", gz.String(), 200},
		{"not gzip", "POST", "/api/v1/points", "application/json", "gzip", "", "", `{"points":[]}`, 400},
		{"duplicate key", "POST", "/api/v1/points", "application/json", "", "", "", `{"points":[],"points":[]}`, 400},
		{"foreign origin", "POST", "/api/v1/points", "application/json", "", "http://evil.example", "", `{"points":[]}`, 403},
		{"allowed origin", "POST", "/api/v1/points", "application/json", "", "http://console.example", "", `{"points":[]}`, 200},
		{"same origin", "POST", "/api/v1/points", "application/json", "", "http://127.0.0.1:8080", "127.0.0.1:8080", `{"points":[]}`, 200},
		{"rebound host", "GET", "/healthz", "", "", "", "evil.example", "", 403},
		{"loopback host", "GET", "/healthz", "", "", "", "localhost:8080", "", 200},
		{"v6 loopback host", "GET", "/healthz", "", "", "", "[::1]:8080", "", 200},
		{"listed host", "GET", "/healthz", "", "", "", "detector.internal:8080", "", 200},
		{"HEAD", "HEAD", "/healthz", "", "", "", "", "", 200},
		// A POST without a body needs no Content-Type (webhook test, approve):
		// it reaches the handler, which finds no JSON to decode.
		{"no body, no type", "POST", "/api/v1/points", "", "", "", "", "", 400},
		{"no body, foreign origin", "POST", "/api/v1/points", "", "", "http://evil.example", "", "", 403},
		{"body, no type", "POST", "/api/v1/points", "", "", "", "", `{"points":[]}`, 415},
	} {
		e := newEnv(t, Config{Guard: GuardConfig{Listen: "127.0.0.1:8080", AllowedHosts: []string{"detector.internal"},
			AllowedOrigins: []string{"http://console.example"}}})
		var rd io.Reader
		if tc.body != "" {
			rd = strings.NewReader(tc.body)
		}
		req := httptest.NewRequest(tc.method, tc.target, rd)
		req.Host = "127.0.0.1:8080"
		if tc.host != "" {
			req.Host = tc.host
		}
		for k, v := range map[string]string{"Content-Type": tc.ct, "Content-Encoding": tc.enc, "Origin": tc.origin} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		e.api.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %s %s = %d %s, want %d", tc.name, tc.method, tc.target, rec.Code, rec.Body, tc.status)
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s: error answer %q is not in the JSON error format", tc.name, rec.Body)
		}
	}
}

func TestErrorListIsCapped(t *testing.T) {
	e := newEnv(t, Config{Guard: GuardConfig{MaxErrors: 3}})
	items := make([]string, 10)
	for i := range items {
		items[i] = `{"series":"cpu","timestamp":"bad","value":1}`
	}
	rec := e.do("POST", "/api/v1/points", `{"points":[`+strings.Join(items, ",")+`]}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"rejected":10`) || !strings.Contains(rec.Body.String(), `"errors_omitted":7`) ||
		strings.Count(rec.Body.String(), `"index"`) != 3 {
		t.Errorf("answer = %d %s, want 10 rejected, 3 listed, 7 omitted", rec.Code, rec.Body)
	}
}

func TestGateShare(t *testing.T) {
	g := newGate(8) // share 2 once 4 are taken
	for range 4 {
		if ok, _ := g.try("a"); !ok {
			t.Fatal("a could not take one of the first half of the turns")
		}
	}
	if ok, _ := g.try("a"); ok {
		t.Error("a took a fifth turn past its share while half were taken")
	}
	for range 2 {
		if ok, _ := g.try("b"); !ok {
			t.Fatal("b was refused although it holds fewer than its share")
		}
	}
	if ok, _ := g.try("b"); ok {
		t.Error("b took a third turn past its share")
	}
	g.release("a")
	if ok, _ := g.try("c"); !ok {
		t.Error("c was refused a turn that came free")
	}
	_ = http.StatusOK
}
