package cluster_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/timeline"
)

const (
	testToken  = "s3cret-token"
	partitions = 12
)

// node is one member of a test cluster: a real API over a real engine and
// peer store, behind the forwarder, behind a bearer-token check (as
// detector serve puts access control in front of the forwarder).
type node struct {
	name  string
	url   string
	srv   *httptest.Server
	dir   *cluster.StaticDirectory
	eng   *series.Engine
	peers *peers.Groups
	tl    *timeline.Memory
	fwd   *cluster.Forwarder
	reg   *prometheus.Registry
	// inner counts the requests that reached this node's own API, and
	// auth is the last Authorization header one of them carried.
	inner atomic.Int64
	auth  atomic.Value
	// hang, when set, makes the node's API wait until the request ends.
	hang atomic.Bool
}

type testCluster struct {
	t      *testing.T
	nodes  []*node
	owners []string
	labels []string
	// single holds every series, as one node would: the reference of a
	// merged listing.
	single *series.Engine
}

func requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"no token"}}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func newEngine(t *testing.T) *series.Engine {
	t.Helper()
	eng, err := series.NewEngine(series.Options{Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return eng
}

// newTestCluster starts n nodes on loopback; partition p is owned by node
// p mod n. A request for a partition without owner is answered at once.
func newTestCluster(t *testing.T, n int, labels []string, timeout time.Duration) *testCluster {
	t.Helper()
	return newTestClusterWait(t, n, labels, timeout, -1)
}

// newTestClusterWait is newTestCluster with the RebalanceWait of the nodes.
func newTestClusterWait(t *testing.T, n int, labels []string, timeout, rebalanceWait time.Duration) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, labels: labels, single: newEngine(t)}
	for i := range n {
		nd := &node{name: fmt.Sprintf("node%d", i), eng: newEngine(t)}
		var err error
		nd.peers, err = peers.New(context.Background(), peers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nd.tl = timeline.NewMemory(10_000)
		// The nodes' admission waits long enough for a busy machine: these
		// tests judge forwarding, not the 429 of an overloaded node.
		a, err := api.New(api.Config{InFlightWait: time.Minute}, api.Deps{Engine: nd.eng, Peers: nd.peers, Timeline: nd.tl})
		if err != nil {
			t.Fatal(err)
		}
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			nd.inner.Add(1)
			nd.auth.Store(r.Header.Get("Authorization"))
			if nd.hang.Load() {
				<-r.Context().Done()
				return
			}
			a.ServeHTTP(w, r)
		})
		nd.srv = httptest.NewUnstartedServer(nil)
		nd.srv.Start()
		nd.url = nd.srv.URL
		nd.dir = cluster.NewStaticDirectory(nd.url, nil)
		nd.reg = prometheus.NewRegistry()
		nd.fwd, err = cluster.NewForwarder(cluster.Config{Directory: nd.dir, KeyLabels: labels, Timeout: timeout, RebalanceWait: rebalanceWait, Registerer: nd.reg})
		if err != nil {
			t.Fatal(err)
		}
		nd.srv.Config.Handler = requireToken(nd.fwd.Handler(inner))
		t.Cleanup(nd.srv.Close)
		tc.nodes = append(tc.nodes, nd)
	}
	for p := range partitions {
		tc.owners = append(tc.owners, tc.nodes[p%n].url)
	}
	tc.setOwners(tc.owners)
	return tc
}

func (tc *testCluster) setOwners(owners []string) {
	for _, nd := range tc.nodes {
		nd.dir.Set(owners)
	}
}

// owner returns the node that owns text.
func (tc *testCluster) owner(text string) *node {
	tc.t.Helper()
	key, err := cluster.SeriesKey(text, tc.labels, series.Limits{})
	if err != nil {
		tc.t.Fatal(err)
	}
	u := tc.owners[cluster.Partition([]byte(key), partitions)]
	for _, nd := range tc.nodes {
		if nd.url == u {
			return nd
		}
	}
	tc.t.Fatalf("no node owns %s", text)
	return nil
}

// other returns a node that does not own text.
func (tc *testCluster) other(text string) *node {
	o := tc.owner(text)
	for _, nd := range tc.nodes {
		if nd != o {
			return nd
		}
	}
	tc.t.Fatal("one node only")
	return nil
}

// ingest writes points of every series to its owner's engine (as the Kafka
// consumer of the owner would) and to the single-node reference.
func (tc *testCluster) ingest(names []string, points int) {
	tc.t.Helper()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i, s := range names {
		samples := make([]anomaly.Sample, points)
		for j := range samples {
			samples[j] = anomaly.Sample{Series: s, TimestampMs: base + int64(j)*60_000, Value: float64(10 + (i*7+j*3)%11)}
		}
		for _, eng := range []*series.Engine{tc.owner(s).eng, tc.single} {
			res, err := eng.Ingest(context.Background(), samples)
			if err != nil || res.Rejected != 0 {
				tc.t.Fatalf("ingest %s: %v %+v", s, err, res)
			}
		}
	}
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) errorBody(t *testing.T) (code, msg, owner string) {
	t.Helper()
	var eb struct {
		Error struct{ Code, Message, Owner string }
	}
	if err := json.Unmarshal(a.body, &eb); err != nil {
		t.Fatalf("error answer %d is not JSON: %v\n%s", a.status, err, a.body)
	}
	if ct := a.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error answer has Content-Type %q", ct)
	}
	return eb.Error.Code, eb.Error.Message, eb.Error.Owner
}

func do(t *testing.T, method, u string, body []byte, hdr map[string]string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, u string) answer { return do(t, http.MethodGet, u, nil, nil) }

func seriesNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf(`plays{device="d%d",title="t%02d"}`, i%4, i/4))
	}
	return out
}

func seriesURL(base, s string) string { return base + "/api/v1/series/" + url.PathEscape(s) }

// Every node answers for every series: from its own engine when it owns
// it, through the owner otherwise (the series is only in the owner's
// engine, so a 200 proves the answer came from there).
func TestForwardToOwner(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	names := seriesNames(24)
	tc.ingest(names, 5)
	owned := map[string]int{}
	for _, s := range names {
		owner := tc.owner(s)
		owned[owner.name]++
		for _, nd := range tc.nodes {
			a := get(t, seriesURL(nd.url, s))
			if a.status != http.StatusOK {
				t.Fatalf("GET series %s on %s = %d %s", s, nd.name, a.status, a.body)
			}
			var d anomaly.SeriesDetail
			if err := json.Unmarshal(a.body, &d); err != nil || d.Series != s || d.Points != 5 {
				t.Fatalf("GET series %s on %s answered %s (%v)", s, nd.name, a.body, err)
			}
			wantOwner := owner.url
			if nd == owner {
				wantOwner = ""
			}
			if got := a.header.Get(cluster.OwnerHeader); got != wantOwner {
				t.Errorf("GET series %s on %s: %s = %q, want %q", s, nd.name, cluster.OwnerHeader, got, wantOwner)
			}
			// The label order of the request does not matter: the key is canonicalised.
			k := series.MustParse(s)
			q := url.Values{"series": {fmt.Sprintf(`plays{ title=%q, device=%q }`, k.Label("title"), k.Label("device"))}}
			if a := get(t, nd.url+"/api/v1/detect?"+q.Encode()); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"series":`)) {
				t.Fatalf("GET detect %s on %s = %d %s", s, nd.name, a.status, a.body)
			}
		}
		// A what-if POST carries its series in the body, which reaches the owner whole.
		body := fmt.Appendf(nil, `{"series":%q,"points":[{"timestamp":"2026-01-01T01:00:00Z","value":10.5},{"timestamp":"2026-01-01T01:01:00Z","value":11}]}`, s)
		a := do(t, http.MethodPost, tc.other(s).url+"/api/v1/detect", body, map[string]string{"Content-Type": "application/json"})
		if a.status != http.StatusOK || strings.Count(string(a.body), `"series"`) != 2 {
			t.Fatalf("POST detect %s via %s = %d %s", s, tc.other(s).name, a.status, a.body)
		}
	}
	if len(owned) != 3 {
		t.Fatalf("the series are owned by %d nodes, want 3: %v", len(owned), owned)
	}
	// An unknown series is the owner's 404, not a forwarding error.
	s := `plays{device="zz",title="none"}`
	if a := get(t, seriesURL(tc.other(s).url, s)); a.status != http.StatusNotFound || a.header.Get(cluster.OwnerHeader) != tc.owner(s).url {
		t.Fatalf("unknown series via a non-owner = %d (owner header %q) %s", a.status, a.header.Get(cluster.OwnerHeader), a.body)
	}
	// Invalid series text is answered by the node asked, as a single node does.
	if a := get(t, tc.nodes[0].url+"/api/v1/detect?series="+url.QueryEscape(`bad{`)); a.status != http.StatusBadRequest {
		t.Fatalf("invalid series = %d %s", a.status, a.body)
	}
}

// A request for a series this node owns reaches this node's API and no
// other's.
func TestLocalPassThrough(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	names := seriesNames(12)
	tc.ingest(names, 3)
	for _, s := range names {
		owner := tc.owner(s)
		before := make([]int64, len(tc.nodes))
		for i, nd := range tc.nodes {
			before[i] = nd.inner.Load()
		}
		if a := get(t, seriesURL(owner.url, s)+"/history"); a.status != http.StatusServiceUnavailable {
			// No history reader is configured: the API's own answer.
			t.Fatalf("history of %s on its owner = %d %s", s, a.status, a.body)
		} else if a.header.Get(cluster.OwnerHeader) != "" {
			t.Fatalf("a local request was forwarded: %v", a.header)
		}
		for i, nd := range tc.nodes {
			want := before[i]
			if nd == owner {
				want++
			}
			if got := nd.inner.Load(); got != want {
				t.Fatalf("%s's API served %d requests, want %d", nd.name, got-before[i], want-before[i])
			}
		}
	}
	// Routes about no one series (ingest, the anomaly listing) are served
	// where they arrive.
	n0 := tc.nodes[0]
	before := n0.inner.Load()
	if a := get(t, n0.url+"/api/v1/peers/rules"); a.status != http.StatusOK {
		t.Fatalf("peer rules = %d %s", a.status, a.body)
	}
	if n0.inner.Load() != before+1 {
		t.Fatal("a node-local route was not served locally")
	}
}

// The bearer token travels with the forwarded request: the owner checks it
// again, and a request without one is refused where it arrives.
func TestAuthHeadersForwarded(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	s := `plays{device="d1",title="t01"}`
	tc.ingest([]string{s}, 3)
	owner, other := tc.owner(s), tc.other(s)
	if a := get(t, seriesURL(other.url, s)); a.status != http.StatusOK {
		t.Fatalf("forwarded GET = %d %s", a.status, a.body)
	}
	if got, _ := owner.auth.Load().(string); got != "Bearer "+testToken {
		t.Fatalf("the owner saw Authorization %q", got)
	}
	before := owner.inner.Load()
	a := do(t, http.MethodGet, seriesURL(other.url, s), nil, map[string]string{"Authorization": ""})
	if a.status != http.StatusUnauthorized {
		t.Fatalf("GET without a token = %d %s", a.status, a.body)
	}
	if owner.inner.Load() != before {
		t.Fatal("a request without a token was forwarded")
	}
}

// A request another node forwarded is never forwarded again: when the
// nodes disagree on the owner the second one refuses with 508, naming the
// owner it sees.
func TestLoopRefused(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	s := `plays{device="d2",title="t02"}`
	tc.ingest([]string{s}, 3)
	owner := tc.owner(s)
	other := tc.other(s)
	// A client (or a node) that marks its request as forwarded.
	a := do(t, http.MethodGet, seriesURL(other.url, s), nil, map[string]string{cluster.HopHeader: "http://127.0.0.1:1"})
	if a.status != http.StatusLoopDetected {
		t.Fatalf("second hop = %d %s", a.status, a.body)
	}
	code, msg, ownerURL := a.errorBody(t)
	if code != "forward_loop" || ownerURL != owner.url || !strings.Contains(msg, owner.url) || a.header.Get("Retry-After") == "" {
		t.Fatalf("second hop answered code %q owner %q: %s (Retry-After %q)", code, ownerURL, msg, a.header.Get("Retry-After"))
	}
	// Directories that disagree: the asked node believes `mid` owns the
	// partition, `mid` believes a third node does.
	key, _ := cluster.SeriesKey(s, nil, series.Limits{})
	p := cluster.Partition([]byte(key), partitions)
	var asked, mid, third *node
	for _, nd := range tc.nodes {
		switch {
		case asked == nil:
			asked = nd
		case mid == nil:
			mid = nd
		default:
			third = nd
		}
	}
	view := func(u string) []string {
		o := slices.Clone(tc.owners)
		o[p] = u
		return o
	}
	asked.dir.Set(view(mid.url))
	mid.dir.Set(view(third.url))
	third.dir.Set(view(third.url))
	before := third.inner.Load()
	a = get(t, seriesURL(asked.url, s))
	if a.status != http.StatusLoopDetected {
		t.Fatalf("disagreeing directories = %d %s", a.status, a.body)
	}
	if _, _, o := a.errorBody(t); o != third.url {
		t.Fatalf("the refusal names owner %q, want %q", o, third.url)
	}
	if third.inner.Load() != before {
		t.Fatal("the request took a second hop")
	}
}

// While a partition has no owner (a rebalance), its series get 503 with
// Retry-After; while no partition count is known either.
func TestNoOwnerDuringRebalance(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	s := `plays{device="d3",title="t03"}`
	key, _ := cluster.SeriesKey(s, nil, series.Limits{})
	p := cluster.Partition([]byte(key), partitions)
	o := slices.Clone(tc.owners)
	o[p] = ""
	tc.setOwners(o)
	for _, nd := range tc.nodes {
		a := get(t, seriesURL(nd.url, s))
		if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" {
			t.Fatalf("no owner: %s answered %d (Retry-After %q) %s", nd.name, a.status, a.header.Get("Retry-After"), a.body)
		}
		if code, msg, _ := a.errorBody(t); code != "unavailable" || !strings.Contains(msg, fmt.Sprintf("partition %d", p)) {
			t.Fatalf("no owner: code %q: %s", code, msg)
		}
	}
	tc.setOwners(nil)
	if a := get(t, seriesURL(tc.nodes[0].url, s)); a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" {
		t.Fatalf("no partitions known = %d %s", a.status, a.body)
	}
}

// A request that arrives while its partition has no owner waits a moment
// for the rebalance to end instead of failing: an owner that appears
// within RebalanceWait answers it; one that does not leaves a 503.
func TestRebalanceWait(t *testing.T) {
	tc := newTestClusterWait(t, 3, nil, 0, 30*time.Second)
	s := `plays{device="d3",title="t04"}`
	tc.ingest([]string{s}, 3)
	key, _ := cluster.SeriesKey(s, nil, series.Limits{})
	p := cluster.Partition([]byte(key), partitions)
	o := slices.Clone(tc.owners)
	o[p] = ""
	tc.setOwners(o)
	asked := tc.other(s)
	done := make(chan answer, 1)
	go func() { done <- get(t, seriesURL(asked.url, s)) }()
	time.Sleep(200 * time.Millisecond) // the request is waiting (or, on a slow machine, not yet sent: either way it must end served)
	tc.setOwners(tc.owners)
	select {
	case a := <-done:
		if a.status != http.StatusOK || a.header.Get(cluster.OwnerHeader) != tc.owner(s).url {
			t.Fatalf("after the rebalance: %d %s", a.status, a.body)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the request did not end")
	}
	short := newTestClusterWait(t, 3, nil, 0, 100*time.Millisecond)
	short.setOwners(o)
	if a := get(t, seriesURL(short.nodes[0].url, s)); a.status != http.StatusServiceUnavailable {
		t.Fatalf("an owner that does not appear: %d %s", a.status, a.body)
	}
}

// An owner that is down gets 502, one that does not answer 504 within the
// timeout, both JSON naming the owner.
func TestOwnerDown(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 300*time.Millisecond)
	names := seriesNames(24)
	var down, slow string
	for _, s := range names {
		switch tc.owner(s) {
		case tc.nodes[1]:
			down = s
		case tc.nodes[2]:
			slow = s
		}
	}
	tc.nodes[1].srv.Close()
	a := get(t, seriesURL(tc.nodes[0].url, down))
	if a.status != http.StatusBadGateway {
		t.Fatalf("owner down = %d %s", a.status, a.body)
	}
	if code, msg, owner := a.errorBody(t); code != "owner_unreachable" || owner != tc.nodes[1].url || !strings.Contains(msg, tc.nodes[1].url) {
		t.Fatalf("owner down: code %q owner %q: %s", code, owner, msg)
	}
	tc.nodes[2].hang.Store(true)
	start := time.Now()
	a = get(t, seriesURL(tc.nodes[0].url, slow))
	if a.status != http.StatusGatewayTimeout {
		t.Fatalf("owner hangs = %d %s", a.status, a.body)
	}
	if code, _, owner := a.errorBody(t); code != "owner_timeout" || owner != tc.nodes[2].url {
		t.Fatalf("owner hangs: code %q owner %q", code, owner)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("a hanging owner held the request %v", d)
	}
	for outcome, want := range map[string]float64{"unreachable": 1, "timeout": 1, "forwarded": 0} {
		if got := counter(t, tc.nodes[0].reg, "detector_cluster_requests_total", outcome); got != want {
			t.Errorf("detector_cluster_requests_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
}

// counter returns the value of the counter name whose one label has value v.
func counter(t *testing.T, reg *prometheus.Registry, name, v string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == v {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

type mergedPage struct {
	Series     []anomaly.SeriesSummary `json:"series"`
	NextCursor string                  `json:"next_cursor"`
	Partial    bool                    `json:"partial"`
	Missing    []cluster.MissingMember `json:"missing"`
}

func names(ss []anomaly.SeriesSummary) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Series)
	}
	return out
}

// A listing asked of any node pages through the series of every node in
// the order, with the page sizes and cursors, of one node holding them
// all.
func TestFanOutMergeWithCursor(t *testing.T) {
	tc := newTestCluster(t, 3, []string{"title"}, 0)
	all := seriesNames(40)
	tc.ingest(all, 8)
	cases := []struct{ match, sort string }{
		{"", ""},
		{`{device="d1"}`, ""},
		{"", "score"},
		{"", "state"},
		{`plays{device=~"d[02]"}`, "score"},
	}
	for _, c := range cases {
		for _, limit := range []int{1, 7, 40, 1000} {
			for _, nd := range tc.nodes {
				cursor, pages, seen := "", 0, []string{}
				for {
					q := url.Values{"limit": {fmt.Sprint(limit)}}
					if c.match != "" {
						q.Set("match", c.match)
					}
					if c.sort != "" {
						q.Set("sort", c.sort)
					}
					if cursor != "" {
						q.Set("cursor", cursor)
					}
					a := get(t, nd.url+"/api/v1/series?"+q.Encode())
					if a.status != http.StatusOK || a.header.Get(cluster.PartialHeader) != "false" {
						t.Fatalf("%+v limit %d on %s: %d %v %s", c, limit, nd.name, a.status, a.header, a.body)
					}
					var got mergedPage
					if err := json.Unmarshal(a.body, &got); err != nil {
						t.Fatal(err)
					}
					var want anomaly.SeriesPage
					var err error
					if c.sort == "" {
						want, err = tc.single.List(context.Background(), c.match, limit, cursor)
					} else {
						want, err = tc.single.ListSorted(context.Background(), c.match, c.sort, limit, cursor)
					}
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(names(got.Series), names(want.Series)) || got.NextCursor != want.NextCursor || got.Partial {
						t.Fatalf("%+v limit %d on %s, page %d:\n got %v next %q\nwant %v next %q",
							c, limit, nd.name, pages, names(got.Series), got.NextCursor, names(want.Series), want.NextCursor)
					}
					seen = append(seen, names(got.Series)...)
					pages++
					if got.NextCursor == "" {
						break
					}
					if pages > 100 {
						t.Fatal("the listing does not end")
					}
					cursor = got.NextCursor
				}
				if c.match == "" && len(seen) != len(all) {
					t.Fatalf("%+v limit %d on %s listed %d series, want %d", c, limit, nd.name, len(seen), len(all))
				}
				if c.sort == "" && !slices.IsSorted(seen) {
					t.Fatalf("%+v: listing out of order: %v", c, seen)
				}
			}
		}
	}
	// A bad matcher is the node's own 400, not a partial answer.
	if a := get(t, tc.nodes[0].url+"/api/v1/series?match="+url.QueryEscape("{bad")); a.status != http.StatusBadRequest {
		t.Fatalf("bad matcher = %d %s", a.status, a.body)
	}
}

// A member that fails leaves a partial answer, flagged in the body and a
// header, with the series of the members that answered.
func TestFanOutPartial(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 300*time.Millisecond)
	all := seriesNames(30)
	tc.ingest(all, 3)
	downNode := tc.nodes[2]
	var alive []string
	for _, s := range all {
		if tc.owner(s) != downNode {
			alive = append(alive, s)
		}
	}
	slices.Sort(alive)
	downNode.srv.Close()
	a := get(t, tc.nodes[0].url+"/api/v1/series?limit=1000")
	if a.status != http.StatusOK || a.header.Get(cluster.PartialHeader) != "true" {
		t.Fatalf("one member down: %d %v %s", a.status, a.header, a.body)
	}
	var got mergedPage
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Partial || len(got.Missing) != 1 || got.Missing[0].Member != downNode.url || got.Missing[0].Error == "" {
		t.Fatalf("partial answer flags %v %+v", got.Partial, got.Missing)
	}
	if n := counter(t, tc.nodes[0].reg, "detector_cluster_merged_total", "true"); n != 1 {
		t.Errorf("partial merges counted %v, want 1", n)
	}
	if !slices.Equal(names(got.Series), alive) {
		t.Fatalf("partial answer lists %v, want %v", names(got.Series), alive)
	}
	// A member that answers an error (not a network failure) is missing too,
	// with its status.
	tc.nodes[1].hang.Store(true)
	a = get(t, tc.nodes[0].url+"/api/v1/series")
	if err := json.Unmarshal(a.body, &got); err != nil || a.status != http.StatusOK || len(got.Missing) != 2 {
		t.Fatalf("two members failing: %d %s", a.status, a.body)
	}
}

func peerRule(name string, groupBy ...string) []byte {
	b, _ := json.Marshal(map[string]any{"name": name, "match": "plays", "group_by": groupBy, "window": 5, "step": "1m"})
	return b
}

// With points keyed by title, a peer rule grouping by title is created on
// every node; one grouping by device (a group would span nodes) is refused
// with the reason, on whichever node it is posted.
func TestPeerRulesInCluster(t *testing.T) {
	tc := newTestCluster(t, 3, []string{"title"}, 0)
	ct := map[string]string{"Content-Type": "application/json"}
	a := do(t, http.MethodPost, tc.nodes[1].url+"/api/v1/peers/rules", peerRule("by-title", "title"), ct)
	if a.status != http.StatusCreated || a.header.Get(cluster.PartialHeader) != "false" {
		t.Fatalf("rule grouping by the key label = %d %v %s", a.status, a.header, a.body)
	}
	for _, nd := range tc.nodes {
		if rs := nd.peers.Rules(); len(rs) != 1 || rs[0].Name != "by-title" {
			t.Fatalf("%s has rules %+v", nd.name, rs)
		}
	}
	for _, nd := range tc.nodes {
		a := do(t, http.MethodPost, nd.url+"/api/v1/peers/rules", peerRule("by-device", "device"), ct)
		if a.status != http.StatusBadRequest {
			t.Fatalf("rule splitting groups on %s = %d %s", nd.name, a.status, a.body)
		}
		if code, msg, _ := a.errorBody(t); code != "invalid_argument" || strings.HasPrefix(msg, "invalid_argument") || !strings.Contains(msg, "title") || !strings.Contains(msg, "--kafka-key-labels") || !bytes.Contains(a.body, []byte(`"field":"group_by"`)) {
			t.Fatalf("refusal: %q %s", code, msg)
		}
		// Forwarded copies are checked too.
		a = do(t, http.MethodPost, nd.url+"/api/v1/peers/rules", peerRule("by-device", "device"), map[string]string{"Content-Type": "application/json", cluster.HopHeader: tc.nodes[0].url})
		if a.status != http.StatusBadRequest {
			t.Fatalf("forwarded rule splitting groups = %d", a.status)
		}
		if len(nd.peers.Rules()) != 1 {
			t.Fatalf("%s took a rule that splits groups", nd.name)
		}
	}
	// A second create is the usual 409; the outliers of the rule are
	// merged over every node (none judged yet).
	if a := do(t, http.MethodPost, tc.nodes[0].url+"/api/v1/peers/rules", peerRule("by-title", "title"), ct); a.status != http.StatusConflict {
		t.Fatalf("second create = %d %s", a.status, a.body)
	}
	if a := get(t, tc.nodes[2].url+"/api/v1/peers/outliers?rule=by-title"); a.status != http.StatusOK || !bytes.Contains(a.body, []byte(`"partial":false`)) {
		t.Fatalf("outliers = %d %s", a.status, a.body)
	}
	if a := get(t, tc.nodes[2].url+"/api/v1/peers/outliers?rule=nope"); a.status != http.StatusNotFound {
		t.Fatalf("outliers of an unknown rule = %d %s", a.status, a.body)
	}
	// Delete reaches every node.
	if a := do(t, http.MethodDelete, tc.nodes[2].url+"/api/v1/peers/rules/by-title", nil, nil); a.status != http.StatusNoContent {
		t.Fatalf("delete = %d %s", a.status, a.body)
	}
	for _, nd := range tc.nodes {
		if rs := nd.peers.Rules(); len(rs) != 0 {
			t.Fatalf("%s kept rules %+v", nd.name, rs)
		}
	}
	if a := do(t, http.MethodDelete, tc.nodes[0].url+"/api/v1/peers/rules/by-title", nil, nil); a.status != http.StatusNotFound {
		t.Fatalf("delete of a deleted rule = %d %s", a.status, a.body)
	}
}

// Requests are served concurrently from every node without races.
func TestConcurrentForwarding(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	all := seriesNames(12)
	tc.ingest(all, 3)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 24 {
		wg.Go(func() {
			nd := tc.nodes[i%3]
			s := all[i%len(all)]
			if a := get(t, seriesURL(nd.url, s)); a.status != http.StatusOK {
				errs <- fmt.Sprintf("%s on %s = %d", s, nd.name, a.status)
			}
			if a := get(t, nd.url+"/api/v1/series?limit=5"); a.status != http.StatusOK {
				errs <- fmt.Sprintf("list on %s = %d", nd.name, a.status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The anomaly listing merges every node's timeline newest first, with the
// page sizes and cursors of one timeline holding them all: each node's ids
// are its own counter, so ids repeat across nodes and the order falls
// back on them only for anomalies that started at the same time.
func TestFanOutAnomalies(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 0)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type ref struct {
		series string
		start  time.Time
		id     anomaly.ID
	}
	var want []ref
	for i, nd := range tc.nodes {
		for j := range 17 {
			id := anomaly.ID(j + 1)
			start := base.Add(time.Duration((j*5+i*3)%23) * time.Minute) // equal starts across nodes too
			s := fmt.Sprintf(`cpu{host="n%d-%d"}`, i, j)
			nd.tl.Record(anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: s, At: start,
				Verdict: anomaly.Verdict{Series: s, Timestamp: start, State: anomaly.StateAnomalous, Score: 0.999}})
			if j%3 == 0 {
				end := start.Add(time.Minute)
				nd.tl.Record(anomaly.Event{Kind: anomaly.EventResolved, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: s, At: end,
					Verdict: anomaly.Verdict{Series: s, Timestamp: end, State: anomaly.StateNormal}})
			}
			want = append(want, ref{s, start, id})
		}
	}
	slices.SortFunc(want, func(a, b ref) int {
		if c := b.start.Compare(a.start); c != 0 {
			return c
		}
		return int(b.id) - int(a.id)
	})
	for _, limit := range []int{1, 5, 16, 100} {
		cursor, got := "", []string{}
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("the listing does not end")
			}
			q := url.Values{"limit": {fmt.Sprint(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			a := get(t, tc.nodes[pages%3].url+"/api/v1/anomalies?"+q.Encode())
			if a.status != http.StatusOK || a.header.Get(cluster.PartialHeader) != "false" {
				t.Fatalf("anomalies limit %d: %d %s", limit, a.status, a.body)
			}
			var p cluster.AnomalyPage
			if err := json.Unmarshal(a.body, &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Anomalies) > limit {
				t.Fatalf("page of %d anomalies, limit %d", len(p.Anomalies), limit)
			}
			for _, an := range p.Anomalies {
				got = append(got, an.Series)
			}
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		var ws []string
		for _, w := range want {
			ws = append(ws, w.series)
		}
		if !slices.Equal(got, ws) {
			t.Fatalf("limit %d: merged listing\n got %v\nwant %v", limit, got, ws)
		}
	}
	// Filters reach every node: the open ones only.
	a := get(t, tc.nodes[1].url+"/api/v1/anomalies?state=open&limit=1000")
	var p cluster.AnomalyPage
	if err := json.Unmarshal(a.body, &p); err != nil || len(p.Anomalies) != 3*11 {
		t.Fatalf("open anomalies: %d of %d (%v)", len(p.Anomalies), 3*11, err)
	}
	if a := get(t, tc.nodes[1].url+"/api/v1/anomalies?state=bogus"); a.status != http.StatusBadRequest {
		t.Fatalf("bad state = %d", a.status)
	}
}

// A what-if body that is gzip-compressed still reaches the owner; one that
// does not arrive is cut off within the timeout instead of holding a turn.
func TestForwardBodies(t *testing.T) {
	tc := newTestCluster(t, 3, nil, 500*time.Millisecond)
	s := `plays{device="d1",title="t07"}`
	tc.ingest([]string{s}, 3)
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	fmt.Fprintf(zw, `{"series":%q,"points":[{"timestamp":"2026-01-01T01:00:00Z","value":10}]}`, s)
	zw.Close()
	a := do(t, http.MethodPost, tc.other(s).url+"/api/v1/detect", zb.Bytes(), map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"})
	if a.status != http.StatusOK || a.header.Get(cluster.OwnerHeader) != tc.owner(s).url {
		t.Fatalf("gzip what-if via a non-owner = %d %s", a.status, a.body)
	}
	// A body that stalls: the headers promise 100 bytes, 10 come.
	conn, err := net.Dial("tcp", strings.TrimPrefix(tc.nodes[0].url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/detect HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"series\":", strings.TrimPrefix(tc.nodes[0].url, "http://"), testToken)
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("stalled body: no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body = %d", resp.StatusCode)
	}
}
