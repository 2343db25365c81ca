package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestPprofListen(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	if addr, err := startPprof("", log); addr != "" || err != nil {
		t.Fatalf(`startPprof("") = %q, %v; want nothing served`, addr, err)
	}
	addr, err := startPprof("127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "heap profile") {
		t.Errorf("heap profile: %d %.200s", resp.StatusCode, body)
	}
	// Only the profiles: the API is not on this listener.
	resp, err = http.Get("http://" + addr + "/api/v1/series")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/series on the profile listener = %d, want 404", resp.StatusCode)
	}
}
