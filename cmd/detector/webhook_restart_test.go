package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// downReceiver is a webhook receiver on a fixed loopback address that is
// down (nothing listens) until Up is called. It keeps every verified
// delivery in arrival order.
type downReceiver struct {
	addr   string
	mu     sync.Mutex
	secret string
	got    []hookDelivery
	bad    int
	srv    *http.Server
}

type hookDelivery struct {
	id, typ, series, anomaly string
}

func (r *downReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !specVerify(r.secret, req.Header, body) {
		r.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var m struct {
		Type string `json:"type"`
		Data struct {
			Anomaly struct {
				ID     json.RawMessage `json:"id"`
				Series string          `json:"series"`
			} `json:"anomaly"`
		} `json:"data"`
	}
	json.Unmarshal(body, &m)
	r.got = append(r.got, hookDelivery{req.Header.Get("webhook-id"), m.Type, m.Data.Anomaly.Series, strings.Trim(string(m.Data.Anomaly.ID), `"`)})
	w.WriteHeader(http.StatusNoContent)
}

// Up starts listening on the receiver's address.
func (r *downReceiver) Up(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		t.Fatalf("receiver back on %s: %v", r.addr, err)
	}
	r.srv = &http.Server{Handler: r}
	go r.srv.Serve(ln)
	t.Cleanup(func() { r.srv.Close() })
}

// perSeries returns, for every series, the distinct events in the order
// of their first arrival, as "type anomaly-id". Distinct by type and
// anomaly, not by webhook-id: this test judges at-least-once delivery in
// order, not uniqueness. (After a SIGKILL an anomaly was once resolved a
// second time under another id; the restart reconciliation now folds a
// logged resolution the timeline lost instead of appending a new one,
// TestReconcileRefoldsAResolutionTheTimelineLost.)
func (r *downReceiver) perSeries() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	out := map[string][]string{}
	for _, d := range r.got {
		k := d.series + " " + d.typ + " " + d.anomaly
		if !seen[k] {
			seen[k] = true
			out[d.series] = append(out[d.series], d.typ+" "+d.anomaly)
		}
	}
	return out
}

type timelineAnomaly struct {
	ID      json.RawMessage `json:"id"`
	Series  string          `json:"series"`
	EndedAt *time.Time      `json:"ended_at"`
}

func (a timelineAnomaly) id() string { return strings.Trim(string(a.ID), `"`) }

// allAnomalies reads the whole timeline, oldest first.
func allAnomalies(t *testing.T, base string) []timelineAnomaly {
	t.Helper()
	var out []timelineAnomaly
	cursor := ""
	for {
		var page struct {
			Anomalies  []timelineAnomaly `json:"anomalies"`
			NextCursor string            `json:"next_cursor"`
		}
		u := base + "/api/v1/anomalies?limit=1000"
		if cursor != "" {
			u += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := json.Unmarshal(getRaw(t, u), &page); err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Anomalies...)
		if page.NextCursor == "" || len(page.Anomalies) == 0 {
			break
		}
		cursor = page.NextCursor
	}
	slices.SortFunc(out, func(a, b timelineAnomaly) int {
		x, _ := strconv.ParseUint(a.id(), 10, 64)
		y, _ := strconv.ParseUint(b.id(), 10, 64)
		return int(x) - int(y)
	})
	return out
}

// expectedEvents is what a subscriber to opened and resolved must get per
// series: for each anomaly, oldest first, opened and (once ended) resolved.
func expectedEvents(as []timelineAnomaly) map[string][]string {
	out := map[string][]string{}
	for _, a := range as {
		out[a.Series] = append(out[a.Series], "anomaly.opened "+a.id())
		if a.EndedAt != nil {
			out[a.Series] = append(out[a.Series], "anomaly.resolved "+a.id())
		}
	}
	return out
}

var writtenSeq = regexp.MustCompile(`(?m)^detector_eventlog_written_sequence (\d+)$`)
var lastSeq = regexp.MustCompile(`(?m)^detector_eventlog_last_sequence (\d+)$`)

// waitEventLogWritten waits until every event appended so far is on disk.
func waitEventLogWritten(t *testing.T, base string) {
	t.Helper()
	waitNotify(t, "the event log written", func() bool {
		m := getRaw(t, base+"/metrics")
		w, l := writtenSeq.FindSubmatch(m), lastSeq.FindSubmatch(m)
		return w != nil && l != nil && string(w[1]) == string(l[1]) && string(l[1]) != "0"
	})
}

// The real binary: a webhook receiver is down while anomalies open and
// resolve on several series; the service is stopped (SIGTERM, or SIGKILL
// once the event log is on disk) and restarted on the same data directory,
// more anomalies open while the receiver is still down; when it comes back
// it receives every anomaly event of the timeline at least once, signed
// with the secret from before the restart, in order per series.
func TestBinaryWebhookBacklogSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			rec := &downReceiver{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
			dir := t.TempDir()
			args := []string{"--data-dir", dir, "--allow-destination", "127.0.0.1", "--snapshot-interval", "1s"}
			p := startBinary(t, args...)
			code, b := postRaw(t, p.Base+"/api/v1/webhooks",
				`{"url":"http://`+rec.addr+`/hook","events":["anomaly.opened","anomaly.resolved"]}`)
			if code != 201 {
				t.Fatalf("subscribe = %d %s", code, b)
			}
			var w struct{ ID, Secret string }
			json.Unmarshal(b, &w)
			rec.secret = w.Secret

			now := time.Now().Add(-time.Hour).Truncate(time.Second)
			name := func(i int) string { return fmt.Sprintf(`requests{app="api",instance="i-%d"}`, i) }
			normal := func(base string, i, from, n int) {
				for j := range n {
					postRaw(t, base+"/api/v1/points", fmt.Sprintf(`{"points":[{"series":%q,"timestamp":%d,"value":101}]}`,
						name(i), now.Unix()+int64((from+j)*60)))
				}
			}
			// Series 0 and 2 open and resolve; series 1 stays open.
			for i := range 3 {
				if code, b := postRaw(t, p.Base+"/api/v1/points", pointsJSON(name(i), now, 576, 400)); code != 200 || !strings.Contains(string(b), `"anomalous"`) {
					t.Fatalf("ingest %d = %d %s", i, code, b)
				}
			}
			normal(p.Base, 0, 1, 6)
			normal(p.Base, 2, 1, 6)
			before := allAnomalies(t, p.Base)
			if len(before) < 3 {
				t.Fatalf("timeline before the restart: %+v, want an anomaly per series", before)
			}
			if sig == syscall.SIGKILL {
				waitEventLogWritten(t, p.Base)
			}
			err := p.Stop(t, sig)
			if sig == syscall.SIGTERM && err != nil {
				t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Log)
			}

			p = startBinary(t, args...)
			// Series 1 resolves and series 3 opens while the receiver is
			// still down.
			normal(p.Base, 1, 1, 6)
			if code, b := postRaw(t, p.Base+"/api/v1/points", pointsJSON(name(3), now, 576, 400)); code != 200 || !strings.Contains(string(b), `"anomalous"`) {
				t.Fatalf("ingest after restart = %d %s", code, b)
			}
			after := allAnomalies(t, p.Base)
			for _, a := range before {
				if !slices.ContainsFunc(after, func(x timelineAnomaly) bool { return x.id() == a.id() && x.Series == a.Series }) {
					t.Fatalf("anomaly %s of %s lost by the restart; timeline now %+v", a.id(), a.Series, after)
				}
			}
			if len(after) < 4 {
				t.Fatalf("timeline after the restart: %+v, want the anomaly opened since", after)
			}
			rec.Up(t)
			want := expectedEvents(after)
			waitNotify(t, "every anomaly event delivered", func() bool {
				got := rec.perSeries()
				for s, evs := range want {
					if len(got[s]) < len(evs) {
						return false
					}
				}
				return true
			})
			got := rec.perSeries()
			t.Logf("delivered per series: %q", got)
			for s, evs := range want {
				if !slices.Equal(got[s], evs) {
					t.Errorf("series %s: delivered %q, want %q", s, got[s], evs)
				}
			}
			rec.mu.Lock()
			bad := rec.bad
			rec.mu.Unlock()
			if bad != 0 {
				t.Errorf("%d deliveries failed verification with the secret from before the restart", bad)
			}
			if err := p.Stop(t, syscall.SIGTERM); err != nil {
				t.Fatalf("exit: %v\n%s", err, p.Log)
			}
		})
	}
}
