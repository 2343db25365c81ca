package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"

	"github.com/anomalyd/detector/anomaly"
)

// TestPrometheusRemoteWrite runs a real Prometheus that scrapes a target on
// 127.0.0.1 every second and remote-writes to the service; the samples
// land as series with the target's labels plus job and instance.
func TestPrometheusRemoteWrite(t *testing.T) {
	bin := serverBinary(t, "DETECTOR_PROMETHEUS", "", "prometheus")
	_, base := startMainWith(t, Config{})

	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE demo_queue_depth gauge\ndemo_queue_depth{queue=\"orders\",zone=\"a b\\\"c\"} %d\n", 40+time.Now().Second()%3)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go target.Serve(ln)
	t.Cleanup(func() { target.Close() })

	dir := t.TempDir()
	conf := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: [%q]
remote_write:
  - url: %s/api/v1/write
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
      max_backoff: 1s
`, ln.Addr().String(), base)
	cf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+cf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", freePort(t)))
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &out}, &syncWriter{w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})

	want := fmt.Sprintf(`demo_queue_depth{instance=%q,job="demo",queue="orders",zone="a b\"c"}`, ln.Addr().String())
	var page anomaly.SeriesPage
	mustEventually(t, "remote-written samples", func() bool {
		getJSON(t, base+"/api/v1/series?match="+url.QueryEscape(`{job="demo"}`), &page)
		for _, s := range page.Series {
			if s.Series == want && s.Points >= 2 {
				return true
			}
		}
		return false
	})
	var up bool
	for _, s := range page.Series {
		if strings.HasPrefix(s.Series, "up{") && strings.Contains(s.Series, `job="demo"`) {
			up = true
		}
	}
	if !up {
		t.Errorf("no up series among %+v", page.Series)
	}
	var d anomaly.SeriesDetail
	getJSON(t, base+"/api/v1/series/"+url.PathEscape(want), &d)
	if d.LastValue < 40 || d.LastValue > 42 {
		t.Errorf("last value %v, want 40..42", d.LastValue)
	}
}

// TestInfluxClientWrites points influxdb-client-go's write API at the
// service: its lines land as series (gzip and plain), malformed lines get
// InfluxDB's error answer and the valid lines of the same body are kept.
func TestInfluxClientWrites(t *testing.T) {
	cfg := Config{}
	cfg.API.BucketLabel = "bucket"
	_, base := startMainWith(t, cfg)
	for _, gz := range []bool{false, true} {
		client := influxdb2.NewClientWithOptions(base, "", influxdb2.DefaultOptions().SetUseGZip(gz).SetPrecision(time.Second))
		w := client.WriteAPIBlocking("acme", "telegraf")
		ts := time.Now().Add(-time.Hour).Truncate(time.Second)
		host := fmt.Sprintf("gz-%v", gz)
		p := influxdb2.NewPoint("cpu", map[string]string{"host": host}, map[string]any{"usage_user": 12.5, "usage_idle": int64(80), "note": "x"}, ts)
		if err := w.WritePoint(context.Background(), p); err != nil {
			t.Fatalf("gzip=%v: WritePoint: %v", gz, err)
		}
		for field, want := range map[string]float64{"usage_user": 12.5, "usage_idle": 80} {
			var v anomaly.Verdict
			s := fmt.Sprintf(`cpu_%s{bucket="telegraf",host=%q}`, field, host)
			if code := getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(s), &v); code != http.StatusOK || v.Value != want || !v.Timestamp.Equal(ts) {
				t.Errorf("gzip=%v: %s: %d %+v, want value %v at %v", gz, s, code, v, want, ts)
			}
		}

		// One malformed line among good ones.
		err := w.WriteRecord(context.Background(),
			fmt.Sprintf("mem,host=%s used=1 %d", host, ts.Unix()),
			fmt.Sprintf("mem,host=%s used= %d", host, ts.Unix()+1),
			fmt.Sprintf("disk,host=%s free=7i %d", host, ts.Unix()+2))
		if err == nil || !strings.Contains(err.Error(), "partial write") || !strings.Contains(err.Error(), "unable to parse") {
			t.Errorf("gzip=%v: malformed line: err = %v, want InfluxDB's partial write error", gz, err)
		}
		for _, s := range []string{fmt.Sprintf(`mem_used{bucket="telegraf",host=%q}`, host), fmt.Sprintf(`disk_free{bucket="telegraf",host=%q}`, host)} {
			var v anomaly.Verdict
			if code := getJSON(t, base+"/api/v1/detect?series="+url.QueryEscape(s), &v); code != http.StatusOK {
				t.Errorf("gzip=%v: valid line of a partial write lost: %s: %d", gz, s, code)
			}
		}
		client.Close()
	}

	// The 1.x endpoint with its error shape.
	resp, err := http.Post(base+"/write?db=legacy&precision=s", "text/plain", strings.NewReader("a v=1 1700000000\nbad line\n"))
	if err != nil {
		t.Fatal(err)
	}
	var e1 struct{ Error string }
	decodeJSON(t, resp, &e1)
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(e1.Error, "partial write: unable to parse 'bad line'") {
		t.Errorf("1.x partial write: %d %q", resp.StatusCode, e1.Error)
	}
	// A missing bucket, as InfluxDB 2 answers it.
	resp, err = http.Post(base+"/api/v2/write?org=x", "text/plain", strings.NewReader("a v=1"))
	if err != nil {
		t.Fatal(err)
	}
	var e2 struct{ Code, Message string }
	decodeJSON(t, resp, &e2)
	if resp.StatusCode != http.StatusBadRequest || e2.Code != "invalid" {
		t.Errorf("missing bucket: %d %+v", resp.StatusCode, e2)
	}
}

func decodeJSON(t *testing.T, resp *http.Response, out any) {
	t.Helper()
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("decode: %v", err)
	}
}
