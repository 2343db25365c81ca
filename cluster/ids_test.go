package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/api"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/feedback"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/timeline"
)

func TestIDPartition(t *testing.T) {
	ids := cluster.NewPartitionIDs(partitions, nil)
	for _, id := range []anomaly.ID{1, 7, 1<<cluster.IDSeqBits - 1} {
		if p, ok := cluster.IDPartition(id); ok {
			t.Errorf("IDPartition(%d) = %d, true: a single node's id taken for a partition's", id, p)
		}
	}
	seen := map[anomaly.ID]bool{}
	for i := range 200 {
		key := fmt.Sprintf(`cpu{host="h%d"}`, i)
		want := cluster.Partition([]byte(key), partitions)
		id := ids.Next(key)
		if p, ok := cluster.IDPartition(id); !ok || p != want {
			t.Fatalf("id %d of %s: partition %d %v, want %d", id, key, p, ok, want)
		}
		if seen[id] || id >= 1<<53 {
			t.Fatalf("id %d repeated or beyond 2^53", id)
		}
		seen[id] = true
	}
	// A new owner reserving a restored id continues past it, and never
	// goes back.
	other := cluster.NewPartitionIDs(partitions, nil)
	key := `cpu{host="h1"}`
	p := cluster.Partition([]byte(key), partitions)
	last := ids.Last(p)
	other.Reserve(last)
	other.Reserve(last - 1)
	other.Reserve(3) // a single node's id: ignored
	if next := other.Next(key); next != last+1 {
		t.Fatalf("after Reserve(%d) the next id is %d, want %d", last, next, last+1)
	}
}

// idNode is a node whose engine numbers anomalies per partition and
// records them in its timeline, with feedback.
type idNode struct {
	url string
	dir *cluster.StaticDirectory
	eng *series.Engine
	ids *cluster.PartitionIDs
	tl  *timeline.Memory
	fb  *feedback.Store
}

func newIDCluster(t *testing.T, n int) []*idNode {
	t.Helper()
	var nodes []*idNode
	for range n {
		nd := &idNode{tl: timeline.NewMemory(10_000)}
		var err error
		if nd.eng, err = series.NewEngine(series.Options{Shards: 2, Events: nd.tl}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.eng.Close(context.Background()) })
		nd.ids = cluster.NewPartitionIDs(partitions, nil)
		nd.eng.SetIDSpace(nd.ids)
		ps, err := peers.New(context.Background(), peers.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if nd.fb, err = feedback.New(nd.eng, nil); err != nil {
			t.Fatal(err)
		}
		a, err := api.New(api.Config{}, api.Deps{Engine: nd.eng, Peers: ps, Timeline: nd.tl, Feedback: nd.fb})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(nil)
		srv.Start()
		t.Cleanup(srv.Close)
		nd.url = srv.URL
		nd.dir = cluster.NewStaticDirectory(nd.url, nil)
		fwd, err := cluster.NewForwarder(cluster.Config{Directory: nd.dir, RebalanceWait: -1})
		if err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = requireToken(fwd.Handler(a))
		nodes = append(nodes, nd)
	}
	return nodes
}

// spiky is a noisy flat series with a spike at point spike.
func spiky(s string, ts0 int64, n, spike int) []anomaly.Sample {
	out := make([]anomaly.Sample, n)
	for i := range out {
		v := 100 + float64(i%7) - 3
		if i == spike {
			v = 1000
		}
		out[i] = anomaly.Sample{Series: s, TimestampMs: ts0 + int64(i)*60_000, Value: v}
	}
	return out
}

// Anomaly ids are unique across the nodes of a cluster, each says the
// partition of its series, and every node answers GET
// /api/v1/anomalies/{id} and its feedback for every anomaly through the
// owner; after a partition moves, its new owner continues its sequence.
func TestAnomalyIDsAcrossNodes(t *testing.T) {
	nodes := newIDCluster(t, 3)
	owners := make([]string, partitions)
	for p := range owners {
		owners[p] = nodes[p%3].url
	}
	setOwners := func() {
		for _, nd := range nodes {
			nd.dir.Set(owners)
		}
	}
	setOwners()
	ownerOf := func(s string) (*idNode, int32) {
		k, err := cluster.SeriesKey(s, nil, series.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p := cluster.Partition([]byte(k), partitions)
		for _, nd := range nodes {
			if nd.url == owners[p] {
				return nd, p
			}
		}
		t.Fatalf("no owner of %s", s)
		return nil, 0
	}
	ts0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	type ref struct {
		series string
		part   int32
	}
	got := map[anomaly.ID]ref{}
	ingest := func(names []string, from, n, spike int) {
		for _, s := range names {
			nd, p := ownerOf(s)
			res, err := nd.eng.Ingest(context.Background(), spiky(s, ts0, from+n, spike)[from:])
			if err != nil || res.Rejected != 0 {
				t.Fatalf("ingest %s: %v %+v", s, err, res)
			}
			for _, v := range res.Anomalies {
				if v.AnomalyID == 0 {
					continue
				}
				if r, ok := got[v.AnomalyID]; ok && r.series != s {
					t.Fatalf("anomaly id %d given to %s and %s", v.AnomalyID, r.series, s)
				}
				if ip, ok := cluster.IDPartition(v.AnomalyID); !ok || ip != p {
					t.Fatalf("anomaly %d of %s (partition %d) carries partition %d %v", v.AnomalyID, s, p, ip, ok)
				}
				got[v.AnomalyID] = ref{s, p}
			}
		}
	}
	var names []string
	for i := range 36 {
		names = append(names, fmt.Sprintf(`cpu{host="h%02d"}`, i))
	}
	ingest(names, 0, 400, 300)
	if len(got) < len(names) {
		t.Fatalf("%d anomalies over %d series: the spike should open one in each", len(got), len(names))
	}
	check := func() {
		t.Helper()
		for id, r := range got {
			for _, nd := range nodes {
				a := get(t, fmt.Sprintf("%s/api/v1/anomalies/%d", nd.url, id))
				var an anomaly.Anomaly
				if a.status != http.StatusOK || json.Unmarshal(a.body, &an) != nil || an.ID != id || an.Series != r.series {
					t.Fatalf("GET anomaly %d (of %s) on %s: %d %s", id, r.series, nd.url, a.status, a.body)
				}
			}
		}
	}
	check()

	// Feedback sent to a node that does not own the series is recorded by
	// the owner, whose engine holds the series.
	var id anomaly.ID
	for k := range got {
		id = max(id, k)
	}
	owner, _ := ownerOf(got[id].series)
	var other *idNode
	for _, nd := range nodes {
		if nd != owner {
			other = nd
		}
	}
	a := do(t, http.MethodPost, fmt.Sprintf("%s/api/v1/anomalies/%d/feedback", other.url, id), []byte(`{"label":"not_anomaly"}`), map[string]string{"Content-Type": "application/json"})
	if a.status != http.StatusOK {
		t.Fatalf("feedback through %s: %d %s", other.url, a.status, a.body)
	}
	count := func(fb *feedback.Store) (n int) {
		for _, d := range fb.Summary().Detectors {
			for _, c := range d.Labels {
				n += c
			}
		}
		return n
	}
	if count(owner.fb) != 1 || count(other.fb) != 0 {
		t.Fatalf("feedback counted %d on the owner, %d on the node asked; want 1, 0", count(owner.fb), count(other.fb))
	}

	// A single node's id is the asked node's own: not forwarded.
	if a := get(t, other.url+"/api/v1/anomalies/5"); a.status != http.StatusNotFound || a.header.Get(cluster.OwnerHeader) != "" {
		t.Fatalf("single-node id on %s: %d %v %s", other.url, a.status, a.header, a.body)
	}

	// Partition moves: node 0's partitions go to node 1, with their
	// series' state and each partition's reservation of ids (as a
	// changelog restore imports them: the series' records and the
	// partition's anomaly-id record; the spikes resolved, so the states
	// alone hold no id). New anomalies there are numbered past the ids of
	// node 0.
	var moved []series.SeriesState
	if _, err := nodes[0].eng.Export(context.Background(), 0, func(ss []series.SeriesState) error {
		moved = append(moved, ss...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := nodes[1].eng.Import(moved); err != nil {
		t.Fatal(err)
	}
	for p := range owners {
		if owners[p] == nodes[0].url {
			owners[p] = nodes[1].url
			nodes[1].ids.Reserve(nodes[0].ids.Ahead(int32(p), 1<<20))
		}
	}
	setOwners()
	maxBefore := map[int32]anomaly.ID{}
	for id, r := range got {
		maxBefore[r.part] = max(maxBefore[r.part], id)
	}
	old := got
	got = map[anomaly.ID]ref{}
	ingest(names, 400, 400, 700)
	if len(got) < len(names) {
		t.Fatalf("%d new anomalies after the move over %d series", len(got), len(names))
	}
	for id, r := range got {
		if _, ok := old[id]; ok || id <= maxBefore[r.part] {
			t.Fatalf("anomaly %d of %s opened after the move is not past the partition's last id %d", id, r.series, maxBefore[r.part])
		}
	}
	// Every node answers for the new anomalies, through their new owners.
	check()
}
