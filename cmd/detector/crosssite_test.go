package main

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrossSiteWritesAreRefused: what a web page on another site can send
// without asking (a text/plain POST, a form) is refused and writes
// nothing; so is a request through a DNS name rebound to 127.0.0.1. A
// listed origin may call the API.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	p := startBinary(t, "--cors-allowed-origins", "http://console.example:3000")
	ts := time.Now().Add(-time.Minute).Unix()
	body := `{"points":[{"series":"csrf","timestamp":` + strconv.FormatInt(ts, 10) + `,"value":1}]}`
	do := func(method, path, ct, origin, host, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.Base+path, strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		name, ct, origin, host string
		status                 int
		code                   string
	}{
		{"text/plain from another site", "text/plain", "http://evil.example", "", 403, "forbidden"},
		{"text/plain without Origin", "text/plain;charset=UTF-8", "", "", 415, "unsupported_media_type"},
		{"form", "application/x-www-form-urlencoded", "", "", 415, "unsupported_media_type"},
		{"no Content-Type", "", "", "", 415, "unsupported_media_type"},
		{"JSON from another site", "application/json", "http://evil.example", "", 403, "forbidden"},
		{"DNS rebinding", "application/json", "", "evil.example:8080", 403, "forbidden"},
	} {
		status, b := do("POST", "/api/v1/points", c.ct, c.origin, c.host, body)
		if status != c.status || !strings.Contains(b, `"code":"`+c.code+`"`) {
			t.Errorf("%s: POST = %d %s, want %d %s", c.name, status, b, c.status, c.code)
		}
	}
	if status, b := do("GET", "/api/v1/series", "", "", "rebound.example", ""); status != 403 {
		t.Errorf("GET through a rebound name = %d %s, want 403", status, b)
	}
	if status, b := do("GET", "/api/v1/series/csrf", "", "", "", ""); status != 404 {
		t.Errorf("after the refused writes, GET series csrf = %d %s, want 404: nothing written", status, b)
	}

	// The listed origin: a preflight, then the write.
	req, _ := http.NewRequest("OPTIONS", p.Base+"/api/v1/points", nil)
	req.Header.Set("Origin", "http://console.example:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "http://console.example:3000" {
		t.Errorf("preflight from the listed origin = %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
	if status, b := do("POST", "/api/v1/points", "application/json", "http://console.example:3000", "", body); status != 200 {
		t.Errorf("POST from the listed origin = %d %s, want 200", status, b)
	}
	if status, b := do("HEAD", "/api/v1/series/csrf", "", "", "localhost", ""); status != 200 || b != "" {
		t.Errorf("HEAD of a series as localhost = %d %q, want 200 and no body", status, b)
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v\n%s", err, p.Log)
	}
}
