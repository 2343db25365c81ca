package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/series"
)

// startCluster starts n detectors with access control on loopback,
// forwarding among themselves over a static assignment of 12 partitions
// (partition p to node p mod n), keyed by keyLabels.
func startCluster(t *testing.T, n int, keyLabels []string) ([]*Main, []string, []string) {
	t.Helper()
	tokens := filepath.Join(t.TempDir(), "tokens")
	writeTokens(t, tokens, "read "+readToken+" dashboards\nwrite "+writeToken+" collector\n")
	var ms []*Main
	var urls []string
	for range n {
		logs := new(syncBuffer)
		m, err := NewMain(Config{Listen: "127.0.0.1:0", Auth: AuthConfig{TokenFile: tokens},
			Cluster: ClusterConfig{Enabled: true, KeyLabels: keyLabels}}, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			m.Close()
			if t.Failed() {
				t.Logf("log of %s:\n%s", m.Addr(), logs.String())
			}
		})
		ms = append(ms, m)
		urls = append(urls, "http://"+m.Addr())
	}
	owners := make([]string, 12)
	for p := range owners {
		owners[p] = urls[p%n]
	}
	for i, m := range ms {
		m.SetDirectory(cluster.NewStaticDirectory(urls[i], owners))
	}
	return ms, urls, owners
}

// Three real detectors with access control: a series written to its
// owner is answered by every node, listings merge every node, peer rules
// reach every node and rules that would split groups are refused.
func TestClusterOfThreeDetectors(t *testing.T) {
	ms, urls, owners := startCluster(t, 3, []string{"title"})
	c := &http.Client{Timeout: 30 * time.Second}
	owner := func(s string) string {
		key, err := cluster.SeriesKey(s, []string{"title"}, series.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		return owners[cluster.Partition([]byte(key), 12)]
	}
	var names []string
	perNode := map[string]int{}
	for i := range 18 {
		s := fmt.Sprintf(`plays{device="d%d",title="%d"}`, i%3, 81230+i/3)
		names = append(names, s)
		perNode[owner(s)]++
		var pts []string
		for j := range 4 {
			pts = append(pts, fmt.Sprintf(`{"series":%q,"timestamp":"2026-01-01T00:%02d:00Z","value":%d}`, s, j, 10+j))
		}
		if a := do(t, c, http.MethodPost, owner(s)+"/api/v1/points", writeToken, `{"points":[`+strings.Join(pts, ",")+`]}`); a.status != http.StatusOK {
			t.Fatalf("ingest %s on its owner: %d %s", s, a.status, a.body)
		}
	}
	if len(perNode) != 3 {
		t.Fatalf("series on %d nodes, want 3", len(perNode))
	}
	slices.Sort(names)
	for _, s := range names {
		for _, u := range urls {
			a := do(t, c, http.MethodGet, u+"/api/v1/series/"+url.PathEscape(s), readToken, "")
			if a.status != http.StatusOK || !strings.Contains(a.body, `"points":4`) {
				t.Fatalf("GET %s on %s (owner %s): %d %s", s, u, owner(s), a.status, a.body)
			}
			if a := do(t, c, http.MethodGet, u+"/api/v1/detect?series="+url.QueryEscape(s), "", ""); a.status != http.StatusUnauthorized {
				t.Fatalf("GET detect without a token on %s: %d", u, a.status)
			}
		}
	}
	// A listing on any node pages over all of them.
	for _, u := range urls {
		var got []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 20 {
				t.Fatal("listing does not end")
			}
			a := do(t, c, http.MethodGet, u+"/api/v1/series?limit=5&cursor="+cursor, readToken, "")
			var p cluster.SeriesPage
			if err := json.Unmarshal([]byte(a.body), &p); err != nil || a.status != http.StatusOK || p.Partial {
				t.Fatalf("list on %s: %d %s", u, a.status, a.body)
			}
			for _, s := range p.Series {
				got = append(got, s.Series)
			}
			if cursor = p.NextCursor; cursor == "" {
				break
			}
		}
		if !slices.Equal(got, names) {
			t.Fatalf("listing on %s:\n got %v\nwant %v", u, got, names)
		}
	}
	// Peer rules: one grouping by the key label reaches every node.
	rule := `{"name":"titles","match":"plays","group_by":["title"],"window":5,"step":"1m"}`
	if a := do(t, c, http.MethodPost, urls[2]+"/api/v1/peers/rules", writeToken, rule); a.status != http.StatusCreated {
		t.Fatalf("create rule: %d %s", a.status, a.body)
	}
	for i, m := range ms {
		if rs := m.peers.Rules(); len(rs) != 1 || rs[0].Name != "titles" {
			t.Fatalf("node %d has rules %+v", i, rs)
		}
	}
	split := `{"name":"devices","match":"plays","group_by":["device"]}`
	a := do(t, c, http.MethodPost, urls[0]+"/api/v1/peers/rules", writeToken, split)
	if a.status != http.StatusBadRequest || a.code != "invalid_argument" || !strings.Contains(a.body, "--kafka-key-labels") {
		t.Fatalf("rule splitting groups: %d %s", a.status, a.body)
	}
	// A read token may not create rules, on any node.
	if a := do(t, c, http.MethodPost, urls[1]+"/api/v1/peers/rules", readToken, rule); a.status != http.StatusForbidden {
		t.Fatalf("create rule with a read token: %d %s", a.status, a.body)
	}
	for i, m := range ms {
		if len(m.peers.Rules()) != 1 {
			t.Fatalf("node %d has %d rules", i, len(m.peers.Rules()))
		}
	}
}

// Until the node knows its group's assignment, a query for a series is
// answered 503 with Retry-After; a listing is this node's own.
func TestClusterBeforeDirectory(t *testing.T) {
	m, err := NewMain(Config{Listen: "127.0.0.1:0", Cluster: ClusterConfig{Enabled: true}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	resp, err := http.Get("http://" + m.Addr() + "/api/v1/detect?series=cpu")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("before the directory: %d (Retry-After %q)", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	resp, err = http.Get("http://" + m.Addr() + "/api/v1/series")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(cluster.PartialHeader) != "false" {
		t.Fatalf("listing before the directory: %d", resp.StatusCode)
	}
}

func TestKeyLabelsFlag(t *testing.T) {
	cfg, _, err := parseServe([]string{"--kafka-key-labels", "title, app", "--cluster-forward-timeout", "3s"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Cluster.KeyLabels, []string{"title", "app"}) || cfg.Cluster.ForwardTimeout != 3*time.Second {
		t.Fatalf("cluster config %+v", cfg.Cluster)
	}
	t.Setenv("DETECTOR_KAFKA_KEY_LABELS", "title")
	if cfg, _, err = parseServe(nil, new(strings.Builder)); err != nil || !slices.Equal(cfg.Cluster.KeyLabels, []string{"title"}) {
		t.Fatalf("from the environment: %+v %v", cfg.Cluster, err)
	}
}

// A node that restores a peer rule whose groups its key labels would split
// says so at start, naming the rule and the fix.
func TestClusterWarnsOfSplitRulesAtStart(t *testing.T) {
	dir := t.TempDir()
	m, err := NewMain(Config{Listen: "127.0.0.1:0", Persist: PersistConfig{DataDir: dir}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	rule := `{"name":"devices","match":"plays","group_by":["device"]}`
	if a := do(t, http.DefaultClient, http.MethodPost, "http://"+m.Addr()+"/api/v1/peers/rules", "", rule); a.status != http.StatusCreated {
		t.Fatalf("create rule on a single node: %d %s", a.status, a.body)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	m, err = NewMain(Config{Listen: "127.0.0.1:0", Persist: PersistConfig{DataDir: dir},
		Cluster: ClusterConfig{Enabled: true, KeyLabels: []string{"title"}}}, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if l := logs.String(); !strings.Contains(l, "peer rule cannot be judged") || !strings.Contains(l, `\"devices\"`) || !strings.Contains(l, "add title to group_by") {
		t.Fatalf("start-up log:\n%s", l)
	}
}
