package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

func TestServesPageAndAssets(t *testing.T) {
	w := get(t, http.MethodGet, "/")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<script src="/ui/app.js">`) {
		t.Fatalf("GET / = %d %.200s", w.Code, w.Body)
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if w.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	for path, ctype := range map[string]string{
		"/ui/app.js":            "javascript",
		"/ui/style.css":         "text/css",
		"/ui/uPlot.iife.min.js": "javascript",
		"/ui/uPlot.min.css":     "text/css",
		"/ui/favicon.svg":       "image/svg+xml",
	} {
		w := get(t, http.MethodGet, path)
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s = %d %q, want 200 %s", path, w.Code, w.Header().Get("Content-Type"), ctype)
		}
	}
	if w := get(t, http.MethodGet, "/ui/nope.js"); w.Code != 404 {
		t.Errorf("missing asset = %d", w.Code)
	}
	if w := get(t, http.MethodGet, "/ui/"); w.Code != 404 {
		t.Errorf("directory listing = %d", w.Code)
	}
	if w := get(t, http.MethodPost, "/"); w.Code != 405 {
		t.Errorf("POST / = %d", w.Code)
	}
}

func TestOwns(t *testing.T) {
	for path, want := range map[string]bool{"/": true, "/ui/app.js": true, "/favicon.ico": true,
		"/api/v1/series": false, "/healthz": false, "/metrics": false, "/uix": false} {
		if got := Owns(path); got != want {
			t.Errorf("Owns(%q) = %v, want %v", path, got, want)
		}
	}
}

// The vendored uPlot keeps its licence beside it.
func TestUPlotLicence(t *testing.T) {
	b, err := assets.ReadFile("assets/uPlot.LICENSE")
	if err != nil || !strings.Contains(string(b), "MIT") {
		t.Fatalf("uPlot licence: %v", err)
	}
}
