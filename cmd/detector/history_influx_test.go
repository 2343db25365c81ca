package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// writeLines posts line protocol (seconds) to the service.
func writeLines(t *testing.T, base string, lines []string) {
	t.Helper()
	resp, err := http.Post(base+"/write?db=x&precision=s", "text/plain", strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d", resp.StatusCode)
	}
}

func getHistoryJSON(t *testing.T, base, s string, q url.Values) anomaly.History {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/series/" + url.PathEscape(s) + "/history?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d", resp.StatusCode)
	}
	var h anomaly.History
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// A restarted service (empty ring) serves the older history from the
// verdicts its sink wrote to InfluxDB, in front of its new points.
func TestHistoryOlderFromInfluxDB(t *testing.T) {
	iu := startInfluxDB(t)
	influxQL(t, iu, "CREATE DATABASE verdicts")
	cfg := Config{Influx: InfluxConfig{
		URL: iu, Org: "-", VerdictBucket: "verdicts/autogen", VerdictFlush: 100 * time.Millisecond, VerdictBuffer: 10_000,
	}}
	m1, base := startMainWith(t, cfg)
	now := time.Now().Truncate(time.Minute)
	const n = 200
	var lines []string
	for i := n; i >= 1; i-- {
		v := 100 + i%4
		if i == 10 {
			v = 10_000 // an anomaly
		}
		lines = append(lines, fmt.Sprintf("requests,app=api value=%d %d", v, now.Add(-time.Duration(i)*time.Minute).Unix()))
	}
	writeLines(t, base, lines)
	const s = `requests_value{app="api"}`
	mustEventually(t, "every verdict in InfluxDB", func() bool {
		return strings.Contains(getText(t, base+"/metrics"), `detector_influx_sink_written_total{kind="verdict"} 200`)
	})
	m1.Close()

	_, base2 := startMainWith(t, cfg)
	writeLines(t, base2, []string{fmt.Sprintf("requests,app=api value=101 %d", now.Unix())})
	since := now.Add(-time.Duration(n+5) * time.Minute)
	var h anomaly.History
	mustEventually(t, "the series in the new service", func() bool {
		resp, err := http.Get(base2 + "/api/v1/series/" + url.PathEscape(s) + "/history?since=" + since.Format(time.RFC3339))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && len(h.Points) > 0
	})
	if h.Older != "" {
		t.Fatalf("older: %q", h.Older)
	}
	if len(h.Points) != n+1 {
		t.Fatalf("history has %d points, want %d older from InfluxDB and the new one", len(h.Points), n+1)
	}
	for i := 1; i < len(h.Points); i++ {
		if !h.Points[i-1].Timestamp.Before(h.Points[i].Timestamp) {
			t.Fatalf("points out of order at %d: %v then %v", i, h.Points[i-1].Timestamp, h.Points[i].Timestamp)
		}
	}
	if first := h.Points[0]; !first.Timestamp.Equal(now.Add(-n*time.Minute)) || first.Value != 100 {
		t.Errorf("first point %+v, want the oldest written", first)
	}
	if last := h.Points[n]; !last.Timestamp.Equal(now) || last.Value != 101 {
		t.Errorf("last point %+v, want the new one", last)
	}
	spike := h.Points[n-10]
	if spike.Value != 10_000 || spike.State != anomaly.StateAnomalous || spike.AnomalyID == 0 || spike.Upper <= spike.Lower {
		t.Errorf("spike from InfluxDB: %+v", spike)
	}
	// Bounded: until and the ring limit the range.
	q := url.Values{"since": {since.Format(time.RFC3339)}, "until": {now.Add(-100 * time.Minute).Format(time.RFC3339)}}
	h = getHistoryJSON(t, base2, s, q)
	if len(h.Points) != n-100+1 || h.Older != "" {
		t.Errorf("until: %d points, older %q; want %d", len(h.Points), h.Older, n-100+1)
	}
}

// With InfluxDB down the ring's points are served with a note.
func TestHistoryOlderInfluxDBDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	cfg := Config{Influx: InfluxConfig{URL: dead, Org: "-", VerdictBucket: "verdicts/autogen", VerdictFlush: 100 * time.Millisecond}}
	cfg.Console.OlderTimeout = 2 * time.Second
	_, base := startMainWith(t, cfg)
	now := time.Now().Truncate(time.Minute)
	writeLines(t, base, []string{fmt.Sprintf("requests,app=api value=5 %d", now.Unix())})
	const s = `requests_value{app="api"}`
	var h anomaly.History
	mustEventually(t, "the point in the ring", func() bool {
		h = getHistoryJSON(t, base, s, url.Values{"since": {now.Add(-time.Hour).Format(time.RFC3339)}})
		return len(h.Points) == 1
	})
	if !strings.HasPrefix(h.Older, "unavailable: ") || h.Points[0].Value != 5 {
		t.Errorf("history with InfluxDB down: %+v", h)
	}
}
