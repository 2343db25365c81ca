package kafka_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/kafka"
	"github.com/anomalyd/detector/series"
)

// The detector binary, built once by TestMain (tests of this package run
// real nodes against an in-process kfake cluster).
var detectorBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "detector-kafka-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	detectorBin = filepath.Join(dir, "detector")
	if out, err := exec.Command("go", "build", "-o", detectorBin, "../cmd/detector").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ../cmd/detector: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// node is one running detector binary.
type node struct {
	name string
	Base string
	log  string // path of its stderr/stdout
	cmd  *exec.Cmd
	done chan error
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startNode runs `detector serve` with args and waits for /healthz.
func startNode(t *testing.T, name string, args ...string) *node {
	t.Helper()
	if detectorBin == "" {
		t.Skip("needs the binary (not built with -short)")
	}
	dir := t.TempDir()
	port := freePort(t)
	n := &node{name: name, Base: fmt.Sprintf("http://127.0.0.1:%d", port), log: filepath.Join(dir, "log"), done: make(chan error, 1)}
	f, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(detectorBin, append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--data-dir", filepath.Join(dir, "data"), "--shards", "2", "--log-level", "info"}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = f, f
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if n.cmd.ProcessState == nil {
			n.cmd.Process.Kill()
			<-n.done
		}
		if t.Failed() || os.Getenv("DETECTOR_KAFKA_LOGS") != "" {
			t.Logf("log of %s:\n%s", n.name, tail(n.logText(), 400))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(n.Base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return n
			}
		}
		select {
		case err := <-n.done:
			t.Fatalf("%s exited before serving: %v\n%s", name, err, n.logText())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("%s did not serve within 60s\n%s", name, n.logText())
	return nil
}

func (n *node) logText() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// stop sends sig and waits for the exit.
func (n *node) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := n.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		if sig == syscall.SIGTERM && err != nil {
			t.Fatalf("%s: exit after SIGTERM: %v\n%s", n.name, err, tail(n.logText(), 40))
		}
	case <-time.After(90 * time.Second):
		n.cmd.Process.Kill()
		t.Fatalf("%s did not exit within 90s of %v", n.name, sig)
	}
}

// input is the test's points: every series gets one point per round.
type input struct {
	series []string // series text
	keys   []string // canonical keys (the record keys)
	rounds int
	base   int64 // Unix seconds of round 0
}

func makeInput(nSeries, rounds int) *input {
	in := &input{rounds: rounds, base: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()}
	for i := range nSeries {
		s := fmt.Sprintf(`requests{host="h%02d",dc="%s"}`, i, []string{"eu", "us", "ap"}[i%3])
		in.series = append(in.series, s)
		in.keys = append(in.keys, series.MustParse(s).Canonical())
	}
	return in
}

// ts is the timestamp (Unix seconds) of round r.
func (in *input) ts(r int) int64 { return in.base + int64(r)*60 }

// value is series i's point of round r: a daily-ish wave, seeded noise
// and a spike now and then, so that anomalies open and resolve. The
// spikes of rounds 60-64 and 157-161 come before or during the cluster's
// changes, and the owners that record them may be gone by the end; those
// of rounds 220-224 come after the last change (TestClusterFailover adds
// its fourth node at round 200), so the final owners record them and the
// anomaly ids' check always has answers to compare.
func (in *input) value(i, r int) float64 {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(r)))
	v := 100 + float64(i) + 10*math.Sin(2*math.Pi*float64(r)/90) + rng.NormFloat64()
	if r%97 == 60+i%5 || r == 220+i%5 {
		v += 80
	}
	return v
}

func (in *input) point(i, r int) []byte {
	return fmt.Appendf(nil, `{"series":%q,"timestamp":%d,"value":%s}`, in.series[i], in.ts(r), strconv.FormatFloat(in.value(i, r), 'g', -1, 64))
}

// post sends rounds [from, to) to a node's HTTP ingest.
func (in *input) post(t *testing.T, base string, from, to int) {
	t.Helper()
	for r0 := from; r0 < to; r0 += 20 {
		var b bytes.Buffer
		b.WriteString(`{"points":[`)
		first := true
		for r := r0; r < min(r0+20, to); r++ {
			for i := range in.series {
				if !first {
					b.WriteByte(',')
				}
				first = false
				b.Write(in.point(i, r))
			}
		}
		b.WriteString(`]}`)
		resp, err := http.Post(base+"/api/v1/points", "application/json", &b)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST points: %d %s", resp.StatusCode, body)
		}
	}
}

// produce sends rounds [from, to) to the points topic, keyed by the
// routing key, partitioned by Kafka's default partitioner.
func (in *input) produce(t *testing.T, cl *kgo.Client, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for r := from; r < to; r++ {
		for i := range in.series {
			recs = append(recs, &kgo.Record{Topic: "points", Key: []byte(cluster.RoutingKey(in.keys[i], nil)), Value: in.point(i, r)})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// seriesView is what the comparison reads of GET /api/v1/series/{s}.
type seriesView struct {
	Points        uint64          `json:"points"`
	State         string          `json:"state"`
	LastTimestamp time.Time       `json:"last_timestamp"`
	LastValue     float64         `json:"last_value"`
	Expected      float64         `json:"expected"`
	Score         float64         `json:"score"`
	Open          bool            `json:"-"`
	AnomalyID     uint64          `json:"anomaly_id"`
	Model         string          `json:"model"`
	Baseline      json.RawMessage `json:"baseline"`
}

var httpc = &http.Client{Timeout: 10 * time.Second}

// getSeries asks base for series s; with local, only what the node holds
// itself (the request carries the forwarder's hop header, so the node
// does not forward it).
func getSeries(base, s string, local bool) (v seriesView, status int, err error) {
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/series/"+url.PathEscape(s), nil)
	if err != nil {
		return v, 0, err
	}
	if local {
		req.Header.Set(cluster.HopHeader, "http://test.invalid")
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return v, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return v, resp.StatusCode, nil
	}
	err = json.Unmarshal(body, &v)
	v.Open = v.AnomalyID != 0
	return v, 200, err
}

// owners reads every series from every node: the views of the nodes that
// hold it.
func owners(t *testing.T, in *input, nodes []*node) [][]seriesView {
	t.Helper()
	out := make([][]seriesView, len(in.series))
	for i, s := range in.series {
		for _, n := range nodes {
			v, st, err := getSeries(n.Base, s, true)
			if err != nil {
				continue // a node going down
			}
			if st == 200 {
				out[i] = append(out[i], v)
			}
		}
	}
	return out
}

// waitRound waits until every series has learned up to round r on exactly
// one of nodes.
func waitRound(t *testing.T, in *input, nodes []*node, r int, what string) {
	t.Helper()
	want := time.Unix(in.ts(r), 0).UTC()
	deadline := time.Now().Add(120 * time.Second)
	var lag []string
	for time.Now().Before(deadline) {
		lag = lag[:0]
		for i, vs := range owners(t, in, nodes) {
			if len(vs) != 1 || !vs[0].LastTimestamp.Equal(want) {
				var at []string
				for _, v := range vs {
					at = append(at, v.LastTimestamp.Format(time.TimeOnly))
				}
				lag = append(lag, fmt.Sprintf("%s at %v", in.series[i], at))
			}
		}
		if len(lag) == 0 {
			// Every node answers for every series, through its owner.
			for _, n := range nodes {
				for _, s := range in.series {
					v, st, err := getSeries(n.Base, s, false)
					if err != nil || st != 200 || !v.LastTimestamp.Equal(want) {
						lag = append(lag, fmt.Sprintf("%s on %s: %d %v %v", s, n.name, st, err, v.LastTimestamp.Format(time.TimeOnly)))
					}
				}
			}
			if len(lag) == 0 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %d series not at round %d after 120s, e.g. %v", what, len(lag), r, lag[:min(5, len(lag))])
}

// prober asks random nodes for random series while the cluster changes,
// and counts the answers.
type prober struct {
	mu     sync.Mutex
	nodes  []*node
	counts map[int]int
	bad    []string
	stop   chan struct{}
	done   chan struct{}
}

func startProber(in *input) *prober {
	p := &prober{counts: map[int]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			p.mu.Lock()
			nodes := p.nodes
			p.mu.Unlock()
			if len(nodes) == 0 {
				continue
			}
			n := nodes[rng.IntN(len(nodes))]
			s := in.series[rng.IntN(len(in.series))]
			req, _ := http.NewRequest(http.MethodGet, n.Base+"/api/v1/series/"+url.PathEscape(s), nil)
			resp, err := httpc.Do(req)
			if err != nil {
				continue // a node stopping
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			p.mu.Lock()
			p.counts[resp.StatusCode]++
			switch {
			case resp.StatusCode == 200:
			case resp.StatusCode >= 500 && resp.Header.Get("Retry-After") != "":
				// The group is rebalancing, or a dead owner's session has
				// not timed out yet: an answer that says when to retry.
			default:
				p.bad = append(p.bad, fmt.Sprintf("%s on %s: %d %s", s, n.name, resp.StatusCode, body))
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *prober) set(nodes []*node) {
	p.mu.Lock()
	p.nodes = nodes
	p.mu.Unlock()
}

func (p *prober) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	t.Logf("queries during the changes, by status: %v", p.counts)
	for _, b := range p.bad[:min(len(p.bad), 10)] {
		t.Errorf("query answered neither 200 nor a retryable error: %s", b)
	}
	if p.counts[200] == 0 {
		t.Error("no query answered 200")
	}
}

// TestClusterFailover runs three detector nodes over a 3-broker kfake
// cluster (12 partitions), SIGKILLs one mid-stream, restarts the others
// one by one and adds a fourth, and checks that every series' baseline is
// exactly the one a single node learns from the same points over HTTP,
// with each point learned once.
func TestClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("runs detector binaries against kfake")
	}
	const nSeries, rounds = 36, 240
	in := makeInput(nSeries, rounds)

	// The single-node reference.
	ref := startNode(t, "reference")
	in.post(t, ref.Base, 0, rounds)
	want := owners(t, in, []*node{ref})
	wantEvents := anomalyEvents(t, ref.Base)
	ref.stop(t, syscall.SIGTERM)
	for i, vs := range want {
		if len(vs) != 1 || vs[0].Points != uint64(rounds) {
			t.Fatalf("reference %s: %+v, want %d points", in.series[i], vs, rounds)
		}
	}

	kc, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(12, "points"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	brokers := strings.Join(kc.ListenAddrs(), ",")
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()

	args := []string{"--kafka-brokers", brokers, "--kafka-topic", "points", "--kafka-group", "detector",
		"--kafka-session-timeout", "6s", "--kafka-checkpoint-interval", "300ms"}
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, fmt.Sprintf("node%d", i), args...))
	}
	alive := func() []*node {
		var out []*node
		for _, n := range nodes {
			if n.cmd.ProcessState == nil {
				out = append(out, n)
			}
		}
		return out
	}

	// Phase 1: a third of the input, learned across the three nodes.
	in.produce(t, prod, 0, 80)
	waitRound(t, in, alive(), 79, "first third")

	probe := startProber(in)
	probe.set(alive())

	// Phase 2: SIGKILL a node while points stream in.
	in.produce(t, prod, 80, 110)
	time.Sleep(100 * time.Millisecond)
	probe.set([]*node{nodes[0], nodes[2]})
	nodes[1].stop(t, syscall.SIGKILL)
	in.produce(t, prod, 110, 140)
	waitRound(t, in, alive(), 139, "after SIGKILL")

	// Phase 3: rolling restart of the two others, points in between.
	in.produce(t, prod, 140, 160)
	probe.set([]*node{nodes[2]})
	nodes[0].stop(t, syscall.SIGTERM)
	nodes = append(nodes, startNode(t, "node0b", args...))
	probe.set(alive())
	in.produce(t, prod, 160, 180)
	probe.set([]*node{nodes[3]})
	nodes[2].stop(t, syscall.SIGTERM)
	nodes = append(nodes, startNode(t, "node2b", args...))
	probe.set(alive())
	in.produce(t, prod, 180, 200)
	waitRound(t, in, alive(), 199, "after the rolling restart")

	// Phase 4: a node added.
	nodes = append(nodes, startNode(t, "node4", args...))
	waitOwns(t, nodes[len(nodes)-1])
	probe.set(alive())
	in.produce(t, prod, 200, rounds)
	waitRound(t, in, alive(), rounds-1, "after adding a node")
	probe.finish(t)

	// A point handed to the writer twice would be refused as out of
	// order (the engine's own guard): no node may have refused any.
	for _, n := range nodes {
		if l := n.logText(); strings.Contains(l, "point refused") || strings.Contains(l, "bad record") {
			t.Errorf("%s refused points:\n%s", n.name, grepLines(l, "refused"))
		}
	}
	// Events out: every opening and resolution the single node had is on
	// the events topic (at least once: a replay after the SIGKILL may add
	// copies, with the same identity), and the events group handed the
	// whole topic over.
	gotEvents := topicEvents(t, kc.ListenAddrs(), "points-events")
	dups := 0
	for id := range wantEvents {
		switch n := gotEvents[id]; {
		case n == 0:
			t.Errorf("event %s of the single node is not on the events topic", id)
		case n > 1:
			dups += n - 1
		}
	}
	t.Logf("%d opened/resolved events, %d duplicate copies on the topic", len(wantEvents), dups)
	if len(wantEvents) == 0 {
		t.Error("the input opened no anomaly: the events check is void")
	}
	waitEventsCommitted(t, kc.ListenAddrs(), "points-events", "detector-events")
	// Anomaly ids: unique across the nodes, the same after a replay, and
	// answered alike by every node (through the owner of the id's
	// partition).
	if checkAnomalyIDs(t, kc.ListenAddrs(), "points-events", alive()) == 0 {
		t.Error("no anomaly id answered 200 by the nodes")
	}

	got := owners(t, in, alive())
	for tries := 0; tries < 100 && !oneEach(got); tries++ {
		time.Sleep(100 * time.Millisecond) // a rebalance moving a partition
		got = owners(t, in, alive())
	}
	for i := range in.series {
		if len(got[i]) != 1 {
			t.Errorf("%s: held by %d nodes, want 1", in.series[i], len(got[i]))
			continue
		}
		g, w := got[i][0], want[i][0]
		if g.Points != w.Points {
			t.Errorf("%s: %d points learned, want %d (each point once)", in.series[i], g.Points, w.Points)
		}
		if g.State != w.State || g.LastValue != w.LastValue || g.Expected != w.Expected || g.Score != w.Score || g.Open != w.Open {
			t.Errorf("%s: state %s value %v expected %v score %v open %v, single node: %s %v %v %v %v",
				in.series[i], g.State, g.LastValue, g.Expected, g.Score, g.Open, w.State, w.LastValue, w.Expected, w.Score, w.Open)
		}
		if !bytes.Equal(g.Baseline, w.Baseline) {
			t.Errorf("%s: baseline\n%s\nsingle node:\n%s", in.series[i], g.Baseline, w.Baseline)
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// anomalyEvents lists the identities (kafka.EventID) of the opened and
// resolved events of a node's timeline.
func anomalyEvents(t *testing.T, base string) map[string]bool {
	t.Helper()
	resp, err := httpc.Get(base + "/api/v1/anomalies?limit=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Anomalies []struct {
			Kind      string     `json:"kind"`
			Series    string     `json:"series"`
			StartedAt time.Time  `json:"started_at"`
			EndedAt   *time.Time `json:"ended_at"`
		} `json:"anomalies"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	if page.NextCursor != "" {
		t.Fatal("more than one page of anomalies")
	}
	out := map[string]bool{}
	for _, a := range page.Anomalies {
		out[kafka.EventID(&anomaly.Event{Series: a.Series, AnomalyKind: a.Kind, Kind: anomaly.EventOpened, Verdict: anomaly.Verdict{Timestamp: a.StartedAt}})] = true
		if a.EndedAt != nil {
			out[kafka.EventID(&anomaly.Event{Series: a.Series, AnomalyKind: a.Kind, Kind: anomaly.EventResolved, Verdict: anomaly.Verdict{Timestamp: *a.EndedAt}})] = true
		}
	}
	return out
}

// topicEvents reads the whole events topic: how many times each event
// identity (the event-id header) is on it.
func topicEvents(t *testing.T, brokers []string, topic string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	out := map[string]int{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			for _, h := range r.Headers {
				if h.Key == kafka.HeaderEventID {
					id := string(h.Value)
					if strings.Contains(id, "|opened|") || strings.Contains(id, "|resolved|") {
						out[id]++
					}
				}
			}
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
		})
	}
	return out
}

// waitEventsCommitted waits until group has committed the end of every
// partition of topic: the cluster handed every event to its subscribers.
func waitEventsCommitted(t *testing.T, brokers []string, topic, group string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(60 * time.Second)
	var behind []string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err1 := adm.ListEndOffsets(ctx, topic)
		committed, err2 := adm.FetchOffsets(ctx, group)
		cancel()
		if err1 == nil && err2 == nil {
			behind = behind[:0]
			ends.Each(func(o kadm.ListedOffset) {
				c, _ := committed.Lookup(topic, o.Partition)
				if o.Offset > 0 && c.At < o.Offset {
					behind = append(behind, fmt.Sprintf("%d: %d of %d", o.Partition, c.At, o.Offset))
				}
			})
			if len(behind) == 0 {
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("events group %s did not commit the end of %s: %v", group, topic, behind)
}

func oneEach(vs [][]seriesView) bool {
	for _, v := range vs {
		if len(v) != 1 {
			return false
		}
	}
	return true
}

// waitOwns waits until n owns at least one partition (its gauge).
func waitOwns(t *testing.T, n *node) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := httpc.Get(n.Base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "detector_kafka_partitions_owned "); ok && v != "0" {
					return
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s owns no partition after 60s", n.name)
}
