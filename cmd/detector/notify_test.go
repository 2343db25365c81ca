package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// specVerify checks a delivery as the Standard Webhooks specification
// says a receiver must: HMAC-SHA256 over id.timestamp.body with the base64
// key after "whsec_", one of the space-separated v1 signatures matching,
// the timestamp within five minutes.
func specVerify(secret string, h http.Header, body []byte) bool {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", h.Get("webhook-id"), h.Get("webhook-timestamp"), body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		if v, b, ok := strings.Cut(sig, ","); ok && v == "v1" {
			if got, err := base64.StdEncoding.DecodeString(b); err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

type hookMsg struct {
	id, typ string
	data    map[string]any
}

// hookReceiver fails its first requests in every way a receiver can, then
// takes everything, verifying each signature.
type hookReceiver struct {
	mu     sync.Mutex
	secret string
	n      int
	got    []hookMsg
	bad    int
	srv    *httptest.Server
}

func (r *hookReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.n++
	n, secret := r.n, r.secret
	r.mu.Unlock()
	switch n {
	case 1, 2:
		w.WriteHeader(http.StatusInternalServerError)
		return
	case 3:
		time.Sleep(2500 * time.Millisecond) // past --webhook-timeout
		return
	case 4:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	if !specVerify(secret, req.Header, body) {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	json.Unmarshal(body, &m)
	r.mu.Lock()
	r.got = append(r.got, hookMsg{req.Header.Get("webhook-id"), m.Type, m.Data})
	r.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (r *hookReceiver) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, g := range r.got {
		if !seen[g.id] {
			seen[g.id] = true
			out = append(out, g.typ)
		}
	}
	return out
}

func postRaw(t *testing.T, u string, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getRaw(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}

func waitNotify(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// points returns a points body for series: n steady 5-minute points
// ending at end, then the extra values, one a minute after.
func pointsJSON(series string, end time.Time, n int, extra ...float64) string {
	var b strings.Builder
	b.WriteString(`{"points":[`)
	first := true
	add := func(ts int64, v float64) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		s, _ := json.Marshal(series)
		fmt.Fprintf(&b, `{"series":%s,"timestamp":%d,"value":%g}`, s, ts, v)
	}
	for i := n; i >= 1; i-- {
		add(end.Unix()-int64(i*300), float64(100+(i*7)%5))
	}
	for i, v := range extra {
		add(end.Unix()+int64(i*60), v)
	}
	b.WriteString("]}")
	return b.String()
}

// alertmanagerForTest starts Debian's prometheus-alertmanager on
// 127.0.0.1; under CI=true a missing binary fails.
func alertmanagerForTest(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		if bin, err = exec.LookPath("alertmanager"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("prometheus-alertmanager is not installed (.ci/run installs it)")
			}
			t.Skip("prometheus-alertmanager is not installed")
		}
	}
	port := freePort(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "am.yml"), []byte("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n"), 0o600)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitNotify(t, "alertmanager ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return base
}

func activeAlerts(t *testing.T, am string) []map[string]any {
	var all []map[string]any
	json.Unmarshal(getRaw(t, am+"/api/v2/alerts"), &all)
	var out []map[string]any
	for _, a := range all {
		if end, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(a["endsAt"])); end.After(time.Now()) {
			out = append(out, a)
		}
	}
	return out
}

// The real binary: a webhook receiver that fails, times out, throttles and
// recovers gets the anomaly's opened and resolved events, in order, each
// signed; a receiver answering 410 is disabled (a change event says so);
// a real Alertmanager shows the alert, then it resolves; a deploy event
// before the anomaly is its possible cause.
func TestBinaryNotifies(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	am := alertmanagerForTest(t)
	rec := &hookReceiver{}
	rec.srv = httptest.NewServer(rec)
	defer rec.srv.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusGone) }))
	defer gone.Close()

	p := startBinary(t, "--allow-destination", "127.0.0.1/32", "--alertmanager-url", am,
		"--webhook-timeout", "1s", "--alertmanager-resend", "1s", "--incident-hold-down", "1s")
	code, b := postRaw(t, p.Base+"/api/v1/webhooks", `{"url":"`+rec.srv.URL+`/hook","events":["anomaly.opened","anomaly.resolved"]}`)
	if code != 201 {
		t.Fatalf("subscribe = %d %s", code, b)
	}
	var w struct{ ID, Secret string }
	json.Unmarshal(b, &w)
	rec.mu.Lock()
	rec.secret = w.Secret
	rec.mu.Unlock()
	code, b = postRaw(t, p.Base+"/api/v1/webhooks", `{"url":"`+gone.URL+`"}`)
	var g struct{ ID string }
	json.Unmarshal(b, &g)
	if code, b := postRaw(t, p.Base+"/api/v1/webhooks", `{"url":"http://169.254.169.254/latest"}`); code != 400 {
		t.Fatalf("metadata destination = %d %s, want 400", code, b)
	}

	series := `requests{app="api",instance="i-0abc"}`
	now := time.Now().Truncate(time.Second)
	postRaw(t, p.Base+"/api/v1/events", fmt.Sprintf(`{"type":"deploy","labels":{"app":"api"},"desc":"v2","at":"%s"}`,
		now.Add(-time.Minute).Format(time.RFC3339)))
	if code, b := postRaw(t, p.Base+"/api/v1/points", pointsJSON(series, now, 576, 400)); code != 200 || !bytes.Contains(b, []byte(`"anomalous"`)) {
		t.Fatalf("ingest = %d %s", code, b)
	}
	waitNotify(t, "the alert in Alertmanager", func() bool { return len(activeAlerts(t, am)) == 1 })
	alert := activeAlerts(t, am)[0]
	if l := alert["labels"].(map[string]any); l["app"] != "api" || l["alertname"] != "DetectorAnomaly" || l["incident_key"] == nil {
		t.Fatalf("alert labels %v", l)
	}
	// Back to normal until the anomaly resolves.
	for i := 1; ; i++ {
		body := fmt.Sprintf(`{"points":[{"series":%q,"timestamp":%d,"value":101}]}`, series, now.Unix()+int64(i*60))
		postRaw(t, p.Base+"/api/v1/points", body)
		if bytes.Contains(getRaw(t, p.Base+"/api/v1/anomalies?state=resolved"), []byte(`"id"`)) {
			break
		}
		if i > 200 {
			t.Fatal("the anomaly never resolved")
		}
	}
	waitNotify(t, "opened and resolved delivered", func() bool { return len(rec.types()) == 2 })
	if got := rec.types(); got[0] != "anomaly.opened" || got[1] != "anomaly.resolved" {
		t.Fatalf("delivered %v, want opened then resolved", got)
	}
	rec.mu.Lock()
	bad, causes := rec.bad, rec.got[0].data["possible_causes"]
	rec.mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d deliveries failed verification", bad)
	}
	if cs, _ := causes.([]any); len(cs) != 1 {
		t.Fatalf("possible causes in the payload: %v, want the deploy", causes)
	}
	waitNotify(t, "the alert resolved", func() bool { return len(activeAlerts(t, am)) == 0 })
	anoms := getRaw(t, p.Base+"/api/v1/anomalies")
	for _, want := range []string{`"severity":`, `"incident_key":"inc_`, `"possible_causes":[{`, `"type":"deploy"`} {
		if !bytes.Contains(anoms, []byte(want)) {
			t.Fatalf("anomalies %s: want %s", anoms, want)
		}
	}
	var ds struct {
		Deliveries []struct {
			Status   string
			Attempts int
		}
	}
	json.Unmarshal(getRaw(t, p.Base+"/api/v1/webhooks/"+w.ID+"/deliveries"), &ds)
	if len(ds.Deliveries) != 2 || ds.Deliveries[1].Attempts < 5 {
		t.Fatalf("delivery log %+v: want two, the first after 4 failed attempts", ds)
	}
	waitNotify(t, "the 410 endpoint disabled", func() bool {
		return bytes.Contains(getRaw(t, p.Base+"/api/v1/webhooks/"+g.ID), []byte(`"enabled":false`))
	})
	if !bytes.Contains(getRaw(t, p.Base+"/api/v1/events?type=webhook.disabled"), []byte(g.ID)) {
		t.Fatal("no webhook.disabled change event")
	}
	metrics := string(getRaw(t, p.Base+"/metrics"))
	for _, m := range []string{`detector_webhook_delivered_total{webhook="` + w.ID + `"} 2`, "detector_webhook_retries_total", "detector_alertmanager_posts_total"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.Log)
	}
}

// A skip_learning silence: the maintenance window's points are scored,
// recorded on the timeline as silenced, not notified, and the baseline is
// left as it was.
func TestBinarySilenceSkipsLearning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	rec := &hookReceiver{n: 4} // no scripted failures
	rec.srv = httptest.NewServer(rec)
	defer rec.srv.Close()
	p := startBinary(t, "--allow-destination", "127.0.0.1")
	_, b := postRaw(t, p.Base+"/api/v1/webhooks", `{"url":"`+rec.srv.URL+`"}`)
	var w struct{ ID, Secret string }
	json.Unmarshal(b, &w)
	rec.secret = w.Secret
	series := `requests{app="api",instance="i-0abc"}`
	now := time.Now().Truncate(time.Second)
	postRaw(t, p.Base+"/api/v1/points", pointsJSON(series, now.Add(-time.Hour), 576))
	seriesURL := p.Base + "/api/v1/series/" + url.PathEscape(series)
	before := getRaw(t, seriesURL)
	code, b := postRaw(t, p.Base+"/api/v1/silences", fmt.Sprintf(
		`{"matchers":"{app=\"api\"}","starts_at":"%s","ends_at":"%s","comment":"upgrade","author":"ops","skip_learning":true}`,
		now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	if code != 201 {
		t.Fatalf("silence = %d %s", code, b)
	}
	code, b = postRaw(t, p.Base+"/api/v1/points", pointsJSON(series, now, 0, 400, 900, 50))
	if code != 200 || !bytes.Contains(b, []byte(`"accepted":3`)) || !bytes.Contains(b, []byte(`"anomalous"`)) {
		t.Fatalf("points in the window = %d %s: want accepted and scored", code, b)
	}
	if after := getRaw(t, seriesURL); !bytes.Equal(before, after) {
		t.Fatalf("the baseline changed during a skip_learning window:\nbefore %s\nafter  %s", before, after)
	}
	// A plain silence on another series: the anomaly is recorded, marked
	// silenced, and not notified.
	other := `requests{app="web",instance="i-0def"}`
	postRaw(t, p.Base+"/api/v1/points", pointsJSON(other, now.Add(-time.Hour), 576))
	postRaw(t, p.Base+"/api/v1/silences", fmt.Sprintf(`{"matchers":"{app=\"web\"}","starts_at":"%s","ends_at":"%s"}`,
		now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339)))
	postRaw(t, p.Base+"/api/v1/points", pointsJSON(other, now, 0, 400))
	anoms := getRaw(t, p.Base+"/api/v1/anomalies?state=open")
	if !bytes.Contains(anoms, []byte(`"silenced":true`)) || !bytes.Contains(anoms, []byte(`i-0def`)) {
		t.Fatalf("open anomalies %s: want the web anomaly, marked silenced", anoms)
	}
	// The endpoint has handled the log up to its end, the silenced event
	// included.
	waitNotify(t, "the endpoint caught up", func() bool {
		return strings.Contains(string(getRaw(t, p.Base+"/metrics")), `detector_webhook_lag_events{webhook="`+w.ID+`"} 0`)
	})
	if n := len(rec.types()); n != 0 {
		t.Fatalf("%d notifications during the silences", n)
	}
}
