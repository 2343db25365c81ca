package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// terminator is a fake terminate-instance endpoint.
type terminator struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []string // paths
}

func newTerminator(t *testing.T) *terminator {
	tm := &terminator{}
	tm.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		tm.mu.Lock()
		tm.calls = append(tm.calls, r.Method+" "+r.URL.Path)
		tm.mu.Unlock()
		fmt.Fprint(w, `{"state":"terminating"}`)
	}))
	t.Cleanup(tm.srv.Close)
	return tm
}

func (tm *terminator) Calls() []string {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return append([]string(nil), tm.calls...)
}

// fleet reports the CPU of 20 servers of one cluster every 200 ms, at the
// wall clock, until stopped; the servers in bad run hot, each at its own
// level.
type fleet struct {
	base string
	mu   sync.Mutex
	bad  map[int]bool
	stop chan struct{}
	done chan struct{}
}

func startFleet(base string, bad ...int) *fleet {
	f := &fleet{base: base, bad: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	f.setBad(bad...)
	go f.run()
	return f
}

func (f *fleet) setBad(bad ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, i := range bad {
		f.bad[i] = true
	}
}

func (f *fleet) run() {
	defer close(f.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for k := 0; ; k++ {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		var pts []point
		f.mu.Lock()
		for i := range 20 {
			v := 100 + 0.2*float64((i*7+k)%5)
			if f.bad[i] {
				v = 150 + 40*float64(i)
			}
			pts = append(pts, point{fmt.Sprintf(`cpu{cluster="c1",instance="i%d"}`, i), now, v})
		}
		f.mu.Unlock()
		b, _ := json.Marshal(map[string]any{"points": pts})
		if resp, err := http.Post(f.base+"/api/v1/points", "application/json", bytes.NewReader(b)); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
}

func (f *fleet) Stop() {
	close(f.stop)
	<-f.done
}

type auditRecord struct {
	ActionID string `json:"action_id"`
	Rule     string `json:"rule"`
	Outcome  string `json:"outcome"`
	Cap      string `json:"cap"`
	Reason   string `json:"reason"`
	Series   string `json:"series"`
	Group    string `json:"group"`
	Response *struct {
		Status int `json:"status"`
	} `json:"response"`
}

func audit(t *testing.T, base string) []auditRecord {
	t.Helper()
	var page struct {
		Actions []auditRecord `json:"actions"`
	}
	if code := getJSON(t, base+"/api/v1/remediations/actions?limit=1000", &page); code != 200 {
		t.Fatalf("GET remediations/actions = %d", code)
	}
	return page.Actions
}

// waitFor polls cond every 100 ms for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cond()
}

// TestNetflixCaseBinary: 20 servers of a cluster report CPU as a peer
// group. One goes bad: the terminate endpoint gets exactly one call for
// it. Then half the group is bad at once: the fraction cap (10% of 20)
// holds, no more than 2 calls in all, and every other outlier is
// suppressed and audited as group_fraction. The caps hold across a
// restart, and the kill file stops everything.
func TestNetflixCaseBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tm := newTerminator(t)
	dir := t.TempDir()
	args := []string{"--data-dir", dir, "--peer-interval", "1s", "--allow-destination", "127.0.0.1/32",
		"--remediation-retry-backoff", "10ms"}
	p := startBinary(t, args...)

	peerRule := map[string]any{"name": "web", "match": "cpu", "group_by": []string{"cluster"}, "member": "instance",
		"window": 5, "step": "1s", "eps": 0.05}
	if code := postJSON(t, p.Base+"/api/v1/peers/rules", peerRule, nil); code != 201 {
		t.Fatalf("POST peers/rules = %d", code)
	}
	rule := map[string]any{
		"name": "terminate-outliers", "peer_rule": "web", "events": []string{"peer_outlier_opened"},
		"dry_run": false, "max_per_hour": 10,
		"action": map[string]any{"type": "http", "http": map[string]any{
			"method": "POST", "url": tm.srv.URL + "/terminate/{{.Labels.instance}}",
			"body": `{"instance": {{json .Labels.instance}}, "reason": "peer outlier", "anomaly": {{json .AnomalyID}}}`,
		}},
	}
	var stored map[string]any
	if code := postJSON(t, p.Base+"/api/v1/remediations", rule, &stored); code != 201 || stored["max_group_fraction"] != 0.1 {
		t.Fatalf("POST remediations = %d %v, want 201 with max_group_fraction 0.1", code, stored)
	}

	// One server goes bad.
	f := startFleet(p.Base, 0)
	defer func() {
		if f != nil {
			f.Stop()
		}
	}()
	if !waitFor(90*time.Second, func() bool { return len(tm.Calls()) >= 1 }) {
		t.Fatalf("no terminate call within 90s; audit %+v\n%s", audit(t, p.Base), p.Log)
	}
	// Later evaluations still flag i0 (updated events): no second call.
	time.Sleep(3 * time.Second)
	if c := tm.Calls(); len(c) != 1 || c[0] != "POST /terminate/i0" {
		t.Fatalf("calls = %v, want exactly one, for i0", c)
	}

	// Half the group is bad at once.
	f.setBad(1, 2, 3, 4, 5, 6, 7, 8, 9)
	// The first decision on each server. (On a stalled machine an outlier
	// may resolve and open again; its second anomaly meets the cooldown.)
	decided := func() map[string]auditRecord {
		out := map[string]auditRecord{}
		for _, r := range audit(t, p.Base) {
			if _, seen := out[r.Series]; !seen && (r.Outcome == "executed" || r.Outcome == "suppressed") {
				out[r.Series] = r
			}
		}
		return out
	}
	if !waitFor(90*time.Second, func() bool { return len(decided()) >= 10 }) {
		t.Fatalf("%d servers decided within 90s, want 10: %+v", len(decided()), audit(t, p.Base))
	}
	time.Sleep(2 * time.Second)
	calls := tm.Calls()
	if len(calls) > 2 {
		t.Fatalf("%d terminate calls, the fraction cap allows 2: %v", len(calls), calls)
	}
	var suppressed []string
	for s, r := range decided() {
		if r.Outcome == "suppressed" {
			if r.Cap != "group_fraction" || r.Reason == "" {
				t.Errorf("%s suppressed by %q (%s), want group_fraction", s, r.Cap, r.Reason)
			}
			suppressed = append(suppressed, s)
		}
	}
	sort.Strings(suppressed)
	if len(calls)+len(suppressed) != 10 || len(suppressed) < 8 {
		t.Fatalf("%d calls and %d suppressed (%v), want 2 and 8", len(calls), len(suppressed), suppressed)
	}
	for _, r := range audit(t, p.Base) {
		if r.Outcome == "suppressed" && r.Cap != "group_fraction" && r.Cap != "cooldown" {
			t.Errorf("%s suppressed by %s, want group_fraction or cooldown", r.Series, r.Cap)
		}
	}
	t.Logf("calls %v; suppressed by group_fraction: %d", calls, len(suppressed))
	f.Stop()
	f = nil

	// Restart: the caps hold. A new outlier of the group is still over the
	// group's share.
	if err := p.Stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Log)
	}
	p = startBinary(t, args...)
	before := len(audit(t, p.Base))
	if before < 10 {
		t.Fatalf("audit after restart has %d records, want the earlier decisions", before)
	}
	// The bad servers were replaced; a new one goes bad.
	f = startFleet(p.Base, 10)
	decision := func(instance string) (auditRecord, bool) {
		for _, r := range audit(t, p.Base) {
			if strings.HasSuffix(r.Series, `instance="`+instance+`"}`) {
				return r, true
			}
		}
		return auditRecord{}, false
	}
	if !waitFor(90*time.Second, func() bool { _, ok := decision("i10"); return ok }) {
		t.Fatalf("no decision for i10 after the restart: %+v\n%s", audit(t, p.Base), p.Log)
	}
	if r, _ := decision("i10"); r.Outcome != "suppressed" || r.Cap != "group_fraction" || r.Reason == "" {
		t.Errorf("i10 after the restart: %s/%s, want suppressed/group_fraction", r.Outcome, r.Cap)
	}
	if n := len(tm.Calls()); n != len(calls) {
		t.Fatalf("%d calls after the restart, want still %d", n, len(calls))
	}

	// The kill file stops everything, and the API reports it.
	if err := os.WriteFile(filepath.Join(dir, "remediation.stop"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var ks struct {
		File bool `json:"file"`
	}
	if code := getJSON(t, p.Base+"/api/v1/remediations/kill-switch", &ks); code != 200 || !ks.File {
		t.Fatalf("kill switch = %d %+v, want the file engaged", code, ks)
	}
	f.setBad(12)
	if !waitFor(90*time.Second, func() bool { _, ok := decision("i12"); return ok }) {
		t.Fatalf("no decision for i12: %+v", audit(t, p.Base))
	}
	if r, _ := decision("i12"); r.Outcome != "suppressed" || r.Cap != "kill_switch" {
		t.Errorf("i12 under the kill file: %s/%s, want suppressed/kill_switch", r.Outcome, r.Cap)
	}
	var metrics bytes.Buffer
	resp, err := http.Get(p.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(&metrics, resp.Body)
	resp.Body.Close()
	if !strings.Contains(metrics.String(), `detector_remediation_decisions_total{cap="kill_switch",outcome="suppressed",rule="terminate-outliers"}`) {
		t.Errorf("metrics lack the suppressed decisions:\n%s", grepLines(metrics.String(), "remediation"))
	}
}

// TestRemediationEventsInTheEventLog: the timeline's events reach the event
// log the remediator reads, and each decision is an event of its own there,
// naming the anomaly it answered. A rule is a dry run unless told otherwise.
func TestRemediationEventsInTheEventLog(t *testing.T) {
	m, base := startMain(t)
	rule := map[string]any{"name": "hosts", "match": "cpu", "group_by": []string{"cluster"}, "member": "host",
		"window": 10, "step": "60s"}
	if code := postJSON(t, base+"/api/v1/peers/rules", rule, nil); code != 201 {
		t.Fatalf("POST peers/rules = %d", code)
	}
	rem := map[string]any{"name": "drain", "peer_rule": "hosts", "events": []string{"peer_outlier_opened"},
		"action": map[string]any{"type": "http", "http": map[string]any{"url": "https://ops.example.com/drain/{{.Labels.host}}"}}}
	if code := postJSON(t, base+"/api/v1/remediations", rem, nil); code != 201 {
		t.Fatalf("POST remediations = %d", code)
	}
	start := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	var pts []point
	for h := range 5 {
		level := 100.0
		if h == 3 {
			level = 150
		}
		for k := range 20 {
			v := level * (1 + 0.1*float64(k%4) + 0.005*float64((h*7+k*3)%5))
			pts = append(pts, point{fmt.Sprintf(`cpu{host="h%d",cluster="c1"}`, h), start.Add(time.Duration(k) * time.Minute).Format(time.RFC3339), v})
		}
	}
	if code := postJSON(t, base+"/api/v1/points", map[string]any{"points": pts}, nil); code != 200 {
		t.Fatalf("POST points = %d", code)
	}
	if _, err := m.peers.Evaluate(context.Background(), start.Add(20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var rec auditRecord
	if !waitFor(30*time.Second, func() bool {
		a := audit(t, base)
		if len(a) > 0 {
			rec = a[0]
		}
		return len(a) > 0
	}) {
		t.Fatal("no decision within 30s")
	}
	if rec.Outcome != "dry_run" || rec.Series != `cpu{cluster="c1",host="h3"}` {
		t.Fatalf("decision = %+v, want a dry run for h3", rec)
	}
	// The decision reaches the log just after the audit trail.
	var opened, decided anomaly.ID
	waitFor(30*time.Second, func() bool {
		entries, err := m.svc.Events().Read(context.Background(), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			switch ev := e.Event; {
			case ev.Kind == anomaly.EventOpened && ev.AnomalyKind == anomaly.KindPeerOutlier:
				opened = ev.AnomalyID
			case ev.Kind == anomaly.EventRemediation && ev.Remediation != nil && ev.Remediation.Outcome == "dry_run":
				decided = ev.AnomalyID
			}
		}
		return decided != 0
	})
	if opened == 0 || decided != opened {
		t.Fatalf("event log: outlier opened %d, remediation event for %d; want both, the same anomaly", opened, decided)
	}
}
