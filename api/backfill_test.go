package api

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	for s, want := range map[string]time.Duration{"14d": 14 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseRange(s); err != nil || got != want {
			t.Errorf("ParseRange(%q) = %v, %v, want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0d", "-1d", "d", "1x", "99999999d", "1d-5h"} {
		if got, err := ParseRange(s); err == nil {
			t.Errorf("ParseRange(%q) = %v, want an error", s, got)
		}
	}
}

func TestBackfillWithoutInflux(t *testing.T) {
	e := newEnv(t, Config{})
	if w := post(e, "/api/v1/backfill", "application/json", "", []byte(`{}`)); w.Code != http.StatusServiceUnavailable {
		t.Errorf("POST /api/v1/backfill without a backfiller: %d", w.Code)
	}
}
