package notify

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// alertmanagerBinary finds Debian's prometheus-alertmanager (or an
// alertmanager on PATH). Under CI=true a missing binary fails the test.
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("prometheus-alertmanager is not installed (.ci/run installs it)")
	}
	t.Skip("prometheus-alertmanager is not installed; apt-get install prometheus-alertmanager")
	return ""
}

// realAM is an Alertmanager process on 127.0.0.1 with its own config and
// storage, restartable on the same port and storage.
type realAM struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
	URL  string
}

func startAlertmanager(t *testing.T) *realAM {
	t.Helper()
	bin := alertmanagerBinary(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cfg := "route:\n  receiver: nobody\n  group_wait: 1s\nreceivers:\n  - name: nobody\n"
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	am := &realAM{t: t, bin: bin, dir: dir, port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	am.start()
	t.Cleanup(am.stop)
	return am
}

func (am *realAM) start() {
	am.t.Helper()
	am.cmd = exec.Command(am.bin,
		"--config.file="+filepath.Join(am.dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(am.dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", am.port),
		"--cluster.listen-address=", "--log.level=warn")
	am.cmd.Stdout, am.cmd.Stderr = os.Stderr, os.Stderr
	if err := am.cmd.Start(); err != nil {
		am.t.Fatal(err)
	}
	eventually(am.t, "alertmanager ready", func() bool {
		resp, err := http.Get(am.URL + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

func (am *realAM) stop() {
	if am.cmd == nil || am.cmd.Process == nil {
		return
	}
	am.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { am.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		am.cmd.Process.Kill()
		<-done
	}
	am.cmd = nil
}

type amAlertView struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
	GeneratorURL string `json:"generatorURL"`
}

// alerts returns the active alerts Alertmanager holds.
func (am *realAM) alerts() []amAlertView {
	resp, err := http.Get(am.URL + "/api/v2/alerts")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out []amAlertView
	json.NewDecoder(resp.Body).Decode(&out)
	now := time.Now()
	active := out[:0]
	for _, a := range out {
		if a.EndsAt.IsZero() || a.EndsAt.After(now) {
			active = append(active, a)
		}
	}
	return active
}

func amOptions(am *realAM) Options {
	o := fastOptions(eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors())
	o.Alertmanagers = []string{am.URL}
	o.BackoffMin = 50 * time.Millisecond
	o.ResendInterval = 200 * time.Millisecond
	o.HoldDown = 300 * time.Millisecond
	return o
}

// The alert appears in a real Alertmanager with its labels and
// annotations, then resolves.
func TestAlertmanagerOpenThenResolve(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	h := newHub(t, o)
	h.Start()
	now := time.Now().UTC()
	s := `http_latency{svc="api",region="eu"}`
	feed(h, o.Log, event(anomaly.EventOpened, 1, s, now, 0.99999))
	eventually(t, "the alert in Alertmanager", func() bool { return len(am.alerts()) == 1 })
	a := am.alerts()[0]
	for k, v := range map[string]string{"alertname": "DetectorAnomaly", "svc": "api", "region": "eu", "metric": "http_latency",
		"severity": SeverityCritical, "detector": "robust_z"} {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if a.Labels["incident_key"] == "" || a.Annotations["value"] != "100" || a.Annotations["expected"] != "10" ||
		a.Annotations["summary"] == "" || a.GeneratorURL == "" {
		t.Errorf("alert %+v: want incident_key, annotations and generatorURL", a)
	}
	feed(h, o.Log, event(anomaly.EventResolved, 1, s, now.Add(time.Second), 0.1))
	eventually(t, "the alert resolved", func() bool { return len(am.alerts()) == 0 })
}

// An Alertmanager restart or outage loses no alert: events during the
// outage are posted once it is back.
func TestAlertmanagerOutageLosesNothing(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	h := newHub(t, o)
	h.Start()
	now := time.Now().UTC()
	feed(h, o.Log, event(anomaly.EventOpened, 1, `a{x="1"}`, now, 0.999))
	eventually(t, "first alert", func() bool { return len(am.alerts()) == 1 })
	am.stop()
	feed(h, o.Log, event(anomaly.EventOpened, 2, `a{x="2"}`, now, 0.999), event(anomaly.EventOpened, 3, `a{x="3"}`, now, 0.999))
	time.Sleep(300 * time.Millisecond) // a few failed posts
	am.start()
	eventually(t, "all three alerts after the outage", func() bool { return len(am.alerts()) == 3 })
}

// A sender restart (the service restarting) keeps its alerts and
// position: an open alert is still re-sent, its resolve still arrives.
func TestAlertmanagerSenderRestart(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	o.DataDir = t.TempDir()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	now := time.Now().UTC()
	feed(h, o.Log, event(anomaly.EventOpened, 1, `b{x="1"}`, now, 0.999))
	eventually(t, "alert", func() bool { return len(am.alerts()) == 1 })
	h.Close()
	o.Registerer = nil
	h2 := newHub(t, o)
	h2.Start()
	feed(h2, o.Log, event(anomaly.EventResolved, 1, `b{x="1"}`, now.Add(time.Second), 0.1))
	eventually(t, "resolved after the restart", func() bool { return len(am.alerts()) == 0 })
}

// Open, resolve and reopen within the hold-down: one alert, never
// resolved in between.
func TestAlertmanagerFlapIsOneAlert(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	o.HoldDown = 5 * time.Second
	h := newHub(t, o)
	h.Start()
	now := time.Now().UTC()
	s := `c{x="1"}`
	feed(h, o.Log, event(anomaly.EventOpened, 1, s, now, 0.999), event(anomaly.EventResolved, 1, s, now.Add(time.Second), 0.1))
	eventually(t, "alert", func() bool { return len(am.alerts()) == 1 })
	feed(h, o.Log, event(anomaly.EventOpened, 2, s, now.Add(2*time.Second), 0.999))
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if n := len(am.alerts()); n != 1 {
			t.Fatalf("%d alerts during the flap, want one", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	key := am.alerts()[0].Labels["incident_key"]
	if want := incidentKey(anomaly.KindPoint, s, 1); key != want {
		t.Fatalf("incident key %q, want the first anomaly's %q", key, want)
	}
}

// A severity raised mid-incident: the alert with the new severity stays,
// the old label set is ended at once.
func TestAlertmanagerSeverityRaised(t *testing.T) {
	am := startAlertmanager(t)
	o := amOptions(am)
	h := newHub(t, o)
	h.Start()
	now := time.Now().UTC()
	s := `d{x="1"}`
	feed(h, o.Log, event(anomaly.EventOpened, 1, s, now, 0.995))
	eventually(t, "warning alert", func() bool { a := am.alerts(); return len(a) == 1 && a[0].Labels["severity"] == SeverityWarning })
	feed(h, o.Log, event(anomaly.EventUpdated, 1, s, now.Add(time.Second), 0.99999))
	eventually(t, "only the critical alert", func() bool {
		a := am.alerts()
		return len(a) == 1 && a[0].Labels["severity"] == SeverityCritical
	})
}
