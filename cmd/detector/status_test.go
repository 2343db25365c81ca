package main

import (
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStatusListsEveryFlag: GET /status lists every flag of serve with
// its effective value and where it came from, the version and the uptime.
func TestStatusListsEveryFlag(t *testing.T) {
	t.Setenv("DETECTOR_MAX_SERIES", "1234")
	t.Setenv("DETECTOR_LISTEN", "127.0.0.1:1") // the command line wins
	t.Setenv("DETECTOR_INFLUX_TOKEN", "s3cret-influx-token")
	cfg, log, err := parseServe([]string{"--listen", "127.0.0.1:0", "--data-dir", "", "--shards=2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMain(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var st statusDoc
	if code := getJSON(t, "http://"+m.Addr()+"/status", &st); code != 200 {
		t.Fatalf("GET /status = %d", code)
	}
	if st.Version == "" || st.GoVersion == "" || st.UptimeSeconds <= 0 || time.Since(st.StartedAt) < 0 {
		t.Errorf("status = version %q go %q uptime %v started %v, want them all", st.Version, st.GoVersion, st.UptimeSeconds, st.StartedAt)
	}
	// Every flag serve defines, once each.
	want := map[string]bool{}
	probe, _, _ := parseServe(nil, io.Discard)
	for _, s := range probe.Settings {
		want[s.Key] = true
	}
	got := map[string]Setting{}
	for _, s := range st.Config {
		if _, dup := got[s.Key]; dup {
			t.Errorf("key %s listed twice", s.Key)
		}
		got[s.Key] = s
	}
	if len(want) < 30 || len(got) != len(want) {
		t.Errorf("status lists %d keys, want every one of serve's %d flags", len(got), len(want))
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("flag %s missing from /status", k)
		}
	}
	for _, c := range []Setting{
		{Key: "listen", Value: "127.0.0.1:0", Source: "flag", Env: "DETECTOR_LISTEN"},
		{Key: "shards", Value: "2", Source: "flag", Env: "DETECTOR_SHARDS"},
		{Key: "max-series", Value: "1234", Source: "environment", Env: "DETECTOR_MAX_SERIES"},
		{Key: "min-points", Value: "48", Source: "default", Env: "DETECTOR_MIN_POINTS"},
		{Key: "data-dir", Value: "", Source: "flag", Env: "DETECTOR_DATA_DIR"},
		// a credential is never shown
		{Key: "influx-token", Value: "<redacted>", Source: "environment", Env: "DETECTOR_INFLUX_TOKEN"},
		{Key: "auth-token-file", Value: "", Source: "default", Env: "DETECTOR_AUTH_TOKEN_FILE"},
	} {
		if got[c.Key] != c {
			t.Errorf("/status %s = %+v, want %+v", c.Key, got[c.Key], c)
		}
	}
}

// TestHelpAndVersion: `serve -h` exits 0 and names the environment
// variables; `version` prints the version.
func TestHelpAndVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := detectorBinary(t)
	out, err := exec.Command(bin, "serve", "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("detector serve -h: %v\n%s", err, out)
	}
	for _, s := range []string{"-max-series", "DETECTOR_MAX_SERIES", "DETECTOR_DATA_DIR", "default 1000000"} {
		if !strings.Contains(string(out), s) {
			t.Errorf("serve -h output lacks %q:\n%s", s, out)
		}
	}
	out, err = exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "detector ") || len(strings.TrimSpace(string(out))) <= len("detector") {
		t.Errorf("detector version = %q, %v; want the version", out, err)
	}
	var stdout strings.Builder
	if err := run(context.Background(), []string{"version"}, &stdout, io.Discard); err != nil || stdout.String() != "detector "+buildVersion()+"\n" {
		t.Errorf("run version = %q, %v", stdout.String(), err)
	}
}
