package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/anomalyd/detector/anomaly"
)

// serverBinary finds an external server for the real-server tests: the
// path in env, else the CI cache, else PATH. Without it the test is
// skipped, except under CI=true, where .ci/run has installed it and a
// missing one is a failure.
func serverBinary(t *testing.T, env, cached, name string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if cached != "" {
		if _, err := os.Stat(cached); err == nil {
			return cached
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (set %s, or run .ci/run which installs it)", name, env)
	}
	t.Skipf("%s not found: set %s or install it (.ci/run does)", name, env)
	return ""
}

// startMainWith starts the service in process with cfg on a loopback port.
func startMainWith(t *testing.T, cfg Config) (*Main, string) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	var logs bytes.Buffer
	m, err := NewMain(cfg, slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	return m, "http://" + m.Addr()
}

// mustEventually polls f every 100 ms until it returns true or the deadline (60 s,
// generous for a busy machine) passes.
func mustEventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// startInfluxDB runs InfluxDB 1.8 with Flux on loopback ports in a temp
// directory and returns its URL.
func startInfluxDB(t *testing.T) string {
	t.Helper()
	bin := serverBinary(t, "DETECTOR_INFLUXD", "/opt/detector-ci/bin/influxd", "influxd")
	dir := t.TempDir()
	httpPort, rpcPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  flux-enabled = true
  log-enabled = false
[continuous_queries]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), httpPort)
	cf := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "run", "-config", cf)
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("influxd output:\n%s", out.String())
		}
	})
	u := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	mustEventually(t, "influxd /ping", func() bool {
		resp, err := http.Get(u + "/ping")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNoContent
	})
	return u
}

// influxQL runs one InfluxQL statement (CREATE DATABASE) on InfluxDB 1.8.
func influxQL(t *testing.T, base, q string) {
	t.Helper()
	resp, err := http.PostForm(base+"/query", url.Values{"q": {q}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(b, []byte(`"error"`)) {
		t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
	}
}

// TestBackfillFromInfluxDB writes three days of history into a real
// InfluxDB, starts the service with --backfill and checks that a live point
// sent while the backfill runs is held, then scored against the learned
// baseline (normal, not learning), and that the backfill's progress is
// reported by the API and in /metrics.
func TestBackfillFromInfluxDB(t *testing.T) {
	iu := startInfluxDB(t)
	influxQL(t, iu, "CREATE DATABASE history")
	client := influxdb2.NewClient(iu, "")
	defer client.Close()
	w := client.WriteAPIBlocking("-", "history/autogen")
	now := time.Now().Truncate(time.Minute)
	var lines []string
	for i := 864; i >= 1; i-- { // 3 days of 5-minute points
		lines = append(lines, fmt.Sprintf("cpu,host=web-1 usage=%d %d", 50+i%3, now.Add(-time.Duration(i)*5*time.Minute).UnixNano()))
	}
	ctx := context.Background()
	if err := w.WriteRecord(ctx, lines...); err != nil {
		t.Fatalf("writing history to InfluxDB: %v", err)
	}

	_, base := startMainWith(t, Config{Influx: InfluxConfig{
		URL:           iu,
		Org:           "-",
		Backfill:      `from(bucket: "history/autogen") |> range(start: v.timeRangeStart, stop: v.timeRangeStop) |> filter(fn: (r) => r._measurement == "cpu")`,
		BackfillRange: 4 * 24 * time.Hour,
		HoldPoints:    1000,
	}})
	// A live point right away: the start-up backfill holds it and replays
	// it after the history.
	live := fmt.Sprintf("cpu,host=web-1 usage=51 %d", now.Add(time.Second).UnixNano())
	resp, err := http.Post(base+"/api/v2/write?org=-&bucket=live", "text/plain", strings.NewReader(live))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("live write: %d", resp.StatusCode)
	}
	var jobs struct {
		Jobs []anomaly.BackfillStatus `json:"jobs"`
	}
	mustEventually(t, "the backfill to finish", func() bool {
		getJSON(t, base+"/api/v1/backfill", &jobs)
		return len(jobs.Jobs) == 1 && jobs.Jobs[0].State != "running"
	})
	j := jobs.Jobs[0]
	if j.State != "done" || j.Rows != 864 || j.Accepted != 864 || j.Series != 1 || j.Rejected != 0 {
		t.Fatalf("backfill status = %+v, want done with 864 rows accepted for 1 series", j)
	}
	var v anomaly.Verdict
	series := url.QueryEscape(`cpu_usage{host="web-1"}`)
	mustEventually(t, "the held live point", func() bool {
		getJSON(t, base+"/api/v1/detect?series="+series, &v)
		return v.Timestamp.Equal(now.Add(time.Second).Truncate(time.Millisecond))
	})
	if v.State == anomaly.StateLearning || v.State != anomaly.StateNormal {
		t.Errorf("first live point after the backfill: %+v, want normal (scored against the backfilled baseline)", v)
	}
	if v.Value != 51 || v.Lower > 51 || v.Upper < 51 {
		t.Errorf("verdict band %v..%v for value %v", v.Lower, v.Upper, v.Value)
	}
	metrics := getText(t, base+"/metrics")
	if !strings.Contains(metrics, `detector_backfill_points_total{outcome="accepted"} 864`) {
		t.Errorf("/metrics lacks the backfill progress:\n%s", grepLines(metrics, "backfill"))
	}

	// On request, for one series: the history is older than what the
	// series has learned, so it is read and counted as rejected.
	var st anomaly.BackfillStatus
	if code := postJSON(t, base+"/api/v1/backfill", map[string]string{"match": `cpu_usage{host="web-1"}`, "range": "1d"}, &st); code != http.StatusAccepted {
		t.Fatalf("POST /api/v1/backfill: %d", code)
	}
	mustEventually(t, "the second backfill", func() bool {
		getJSON(t, base+"/api/v1/backfill", &jobs)
		return len(jobs.Jobs) == 2 && jobs.Jobs[0].State != "running"
	})
	// A day of 5-minute points: 288, or 287 when the range's edges fall
	// between points.
	if j := jobs.Jobs[0]; j.State != "done" || j.Rows < 287 || j.Rows > 288 || j.Rejected != j.Rows || j.Accepted != 0 {
		t.Errorf("series backfill = %+v, want a day of rows, all rejected as older than the series' last point", j)
	}
	if code := postJSON(t, base+"/api/v1/backfill", map[string]string{"match": `{host=~"(`}, nil); code != http.StatusBadRequest {
		t.Errorf("bad matcher: %d, want 400", code)
	}
}

// TestVerdictSinkToInfluxDB writes verdicts and anomaly events to a real
// InfluxDB and reads them back with Flux.
func TestVerdictSinkToInfluxDB(t *testing.T) {
	iu := startInfluxDB(t)
	influxQL(t, iu, "CREATE DATABASE verdicts")
	_, base := startMainWith(t, Config{Influx: InfluxConfig{
		URL: iu, Org: "-", VerdictBucket: "verdicts/autogen", VerdictFlush: 100 * time.Millisecond, VerdictBuffer: 10_000,
	}})
	now := time.Now().Truncate(time.Minute)
	var lines []string
	const n = 300
	for i := n; i >= 1; i-- {
		v := 100 + i%4
		if i == 1 {
			v = 10_000 // far outside: an anomaly opens
		}
		lines = append(lines, fmt.Sprintf("requests,app=api value=%d %d", v, now.Add(-time.Duration(i)*time.Minute).Unix()))
	}
	resp, err := http.Post(base+"/write?db=x&precision=s", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d", resp.StatusCode)
	}
	client := influxdb2.NewClient(iu, "")
	defer client.Close()
	q := client.QueryAPI("-")
	count := func(flux string) (int, map[string]any) {
		res, err := q.Query(context.Background(), flux)
		if err != nil {
			t.Logf("flux: %v", err)
			return 0, nil
		}
		defer res.Close()
		k := 0
		var last map[string]any
		for res.Next() {
			k++
			last = res.Record().Values()
		}
		return k, last
	}
	mustEventually(t, "every verdict in InfluxDB", func() bool {
		k, _ := count(`from(bucket: "verdicts/autogen") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "detector_verdict" and r._field == "upper" and r.metric == "requests_value" and r.app == "api")`)
		return k == n
	})
	k, last := count(`from(bucket: "verdicts/autogen") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "detector_verdict" and r._field == "value" and r.state == "anomalous")`)
	if k != 1 || last["series"] != `requests_value{app="api"}` || last["_value"] != 10000.0 {
		t.Errorf("anomalous verdicts in InfluxDB: %d, last %v; want the one spike of requests_value{app=\"api\"}", k, last)
	}
	k, _ = count(`from(bucket: "verdicts/autogen") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "detector_verdict" and r._field == "expected" and r.state == "normal")`)
	if k == 0 {
		t.Error("no normal verdicts with an expected value in InfluxDB")
	}
	mustEventually(t, "the opened event in InfluxDB", func() bool {
		k, _ := count(`from(bucket: "verdicts/autogen") |> range(start: -1d) |> filter(fn: (r) => r._measurement == "detector_verdict_event" and r.kind == "opened" and r._field == "score")`)
		return k == 1
	})
	metrics := getText(t, base+"/metrics")
	if !strings.Contains(metrics, `detector_influx_sink_written_total{kind="verdict"} 300`) {
		t.Errorf("/metrics: %s", grepLines(metrics, "influx_sink"))
	}
	// The open anomaly's score and band on /metrics.
	for _, name := range []string{"score", "lower", "upper", "expected"} {
		if !strings.Contains(metrics, `detector_open_anomaly_`+name+`{anomaly_id="1",detector=`) || !strings.Contains(metrics, `series="requests_value{app=\"api\"}"}`) {
			t.Errorf("/metrics lacks detector_open_anomaly_%s of the open anomaly:\n%s", name, grepLines(metrics, "open_anomaly"))
		}
	}
}

func getText(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// syncWriter serialises writes from a child process' two pipes and the
// service's logger.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
