package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/series"
)

func newEngine(t *testing.T) *series.Engine {
	t.Helper()
	e, err := series.NewEngine(series.Options{Shards: 2, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func produce(t *testing.T, cl *kgo.Client, key string, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: "points", Key: []byte(key),
			Value: fmt.Appendf(nil, `{"series":%q,"timestamp":%d,"value":%d}`, key, 1_700_000_000+60*i, 10+i%3)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func waitPoints(t *testing.T, e *series.Engine, key string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got uint64
	for time.Now().Before(deadline) {
		if d, err := e.Get(context.Background(), key); err == nil {
			if got = d.Points; got == n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: %d points learned, want %d", key, got, n)
}

// A node that wrote a checkpoint to the changelog and died before
// committing its offset: the next owner restores the checkpoint, replays
// from the older commit and skips exactly the points the checkpoint
// already holds (none is learned twice, none refused).
func TestRestoreSkipsCheckpointedPoints(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "points"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	key := series.MustParse(`cpu{host="a"}`).Canonical()
	if p := cluster.Partition([]byte(key), 2); p < 0 || p > 1 {
		t.Fatal(p)
	}
	cfg := Config{Brokers: kc.ListenAddrs(), Topic: "points", Group: "g", SessionTimeout: 6 * time.Second, CheckpointInterval: time.Hour}

	e1 := newEngine(t)
	c1, err := New(cfg, e1, e1)
	if err != nil {
		t.Fatal(err)
	}
	c1.Start()
	produce(t, prod, key, 0, 5)
	waitPoints(t, e1, key, 5)
	ctx := context.Background()
	c1.mu.Lock()
	if err := c1.checkpoint(ctx, c1.ownedLocked(), false); err != nil { // changelog @5, commit 5
		t.Fatal(err)
	}
	c1.mu.Unlock()
	produce(t, prod, key, 5, 12)
	waitPoints(t, e1, key, 12)
	c1.crashTest.Store(true)
	c1.mu.Lock()
	if err := c1.checkpoint(ctx, c1.ownedLocked(), false); err != nil { // changelog @12, no commit
		t.Fatal(err)
	}
	c1.mu.Unlock()
	c1.cancel()
	<-c1.done
	c1.dir.stop()
	c1.cl.AllowRebalance()
	c1.cl.Close() // leaves the group; the callbacks do nothing

	e2 := newEngine(t)
	c2, err := New(cfg, e2, e2)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Close(ctx)
	waitPoints(t, e2, key, 12)
	produce(t, prod, key, 12, 15)
	waitPoints(t, e2, key, 15)
	// The engine shows a point as soon as its shard learned it, before
	// the consumer's Ingest call returns and counts it: wait for the count.
	for deadline := time.Now().Add(60 * time.Second); testutil.ToFloat64(c2.m.learned) < 3 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(c2.m.skipped); got != 7 {
		t.Errorf("points skipped = %v, want 7 (offsets 5..11, in the checkpoint but after the commit)", got)
	}
	if got := testutil.ToFloat64(c2.m.badPoints); got != 0 {
		t.Errorf("points refused = %v, want 0", got)
	}
	if got := testutil.ToFloat64(c2.m.learned); got != 3 {
		t.Errorf("points learned by the new owner = %v, want 3", got)
	}
}

// Bad records are counted and skipped; the partition goes on.
func TestBadRecordsAreSkipped(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "points"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	e := newEngine(t)
	c, err := New(Config{Brokers: kc.ListenAddrs(), Topic: "points", Group: "g", SessionTimeout: 6 * time.Second}, e, e)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close(context.Background())
	key := `cpu{host="b"}`
	var recs []*kgo.Record
	for _, v := range []string{
		`{"series":"cpu{host=\"b\"}","timestamp":1700000000,"value":1}`,
		`{not json`,
		``,
		`{"series":"cpu{host=\"b\"}","timestamp":"yesterday","value":1}`,
		`{"series":"cpu{host=","timestamp":1700000060,"value":1}`,
		`{"series":"cpu{host=\"b\"}","timestamp":1700000060,"value":1e400}`,
		"cpu,host=b value=2 1700000120000000000",
		`[{"series":"cpu{host=\"b\"}","timestamp":"2023-11-14T22:16:00Z","value":3},{"series":"cpu{host=\"b\"}","timestamp":1700000220.5,"value":4}]`,
		`{"series":"cpu{host=\"b\"}","timestamp":1700000000,"value":5}`, // out of order: refused by the writer
	} {
		recs = append(recs, &kgo.Record{Topic: "points", Value: []byte(v)})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitPoints(t, e, series.MustParse(`cpu_value{host="b"}`).Canonical(), 1)
	waitPoints(t, e, series.MustParse(key).Canonical(), 3)
	deadline := time.Now().Add(30 * time.Second)
	for testutil.ToFloat64(c.m.badPoints) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(c.m.badRecords); got != 5 {
		t.Errorf("bad records = %v, want 5", got)
	}
	if got := testutil.ToFloat64(c.m.badPoints); got != 1 {
		t.Errorf("refused points = %v, want 1", got)
	}
}

func TestChangelogRoundTrip(t *testing.T) {
	e := newEngine(t)
	if _, err := e.Ingest(context.Background(), samplesOf(`m{a="1"}`, 50)); err != nil {
		t.Fatal(err)
	}
	var st []series.SeriesState
	e.ExportMatching(context.Background(), func(string) bool { return true }, func(s []series.SeriesState) error {
		st = append(st, s...)
		return nil
	})
	if len(st) != 1 {
		t.Fatalf("%d states", len(st))
	}
	b := appendState(nil, &st[0], 1234)
	var got series.SeriesState
	through, err := decodeState(b, &got)
	if err != nil || through != 1234 {
		t.Fatalf("decode = %d, %v", through, err)
	}
	got.Key = st[0].Key
	if got.LastTs != st[0].LastTs || got.LastUpdate != st[0].LastUpdate || got.NeedPoints != st[0].NeedPoints ||
		string(got.Model.AppendBinary(nil)) != string(st[0].Model.AppendBinary(nil)) {
		t.Errorf("round trip differs")
	}
	for _, bad := range [][]byte{nil, {9}, b[:3], append([]byte{1, 0x80}, b[2:4]...)} {
		if _, err := decodeState(bad, &got); err == nil {
			t.Errorf("decodeState(%x) = nil error", bad)
		}
	}
	// Drop removes only the matching series and keeps no trace.
	if _, err := e.Ingest(context.Background(), samplesOf(`m{a="2"}`, 3)); err != nil {
		t.Fatal(err)
	}
	if n := e.Drop(func(k string) bool { return k == st[0].Key }); n != 1 {
		t.Fatalf("dropped %d", n)
	}
	if _, err := e.Get(context.Background(), `m{a="1"}`); err == nil {
		t.Error("dropped series still answers")
	}
	if _, err := e.Get(context.Background(), `m{a="2"}`); err != nil {
		t.Error(err)
	}
}

// overloadingWriter refuses the first calls as a whole, then some calls in
// part (the series of one "shard"), as the engine does when its queues
// are full; then it lets everything through.
type overloadingWriter struct {
	e     *series.Engine
	calls int
}

func (w *overloadingWriter) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	w.calls++
	switch {
	case w.calls <= 3:
		return anomaly.IngestResult{}, anomaly.Errorf(anomaly.CodeOverloaded, "queues full")
	case w.calls <= 8:
		var pass []anomaly.Sample
		var idx []int
		var res anomaly.IngestResult
		for i, s := range samples {
			if s.Series == `cpu{host="x"}` {
				pass = append(pass, s)
				idx = append(idx, i)
				continue
			}
			res.Errors = append(res.Errors, anomaly.ItemError{Index: i, Code: anomaly.CodeOverloaded, Message: "queue full"})
		}
		r, err := w.e.Ingest(ctx, pass)
		if err != nil {
			return r, err
		}
		for _, e := range r.Errors {
			e.Index = idx[e.Index]
			res.Errors = append(res.Errors, e)
		}
		res.Accepted = r.Accepted
		return res, nil
	}
	return w.e.Ingest(ctx, samples)
}

// Overload pauses the partition and retries: every point is learned once,
// in order, and the partition resumes.
func TestOverloadPausesAndRetries(t *testing.T) {
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "points"))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	e := newEngine(t)
	c, err := New(Config{Brokers: kc.ListenAddrs(), Topic: "points", Group: "g", SessionTimeout: 6 * time.Second, MaxPollRecords: 7}, e, &overloadingWriter{e: e})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Close(context.Background())
	for _, h := range []string{"x", "y", "z"} {
		produce(t, prod, `cpu{host="`+h+`"}`, 0, 40)
	}
	for _, h := range []string{"x", "y", "z"} {
		waitPoints(t, e, series.MustParse(`cpu{host="`+h+`"}`).Canonical(), 40)
	}
	if got := testutil.ToFloat64(c.m.pauses); got < 1 {
		t.Errorf("pauses = %v, want at least 1", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(c.m.paused) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := testutil.ToFloat64(c.m.paused); got != 0 {
		t.Errorf("partitions still paused: %v", got)
	}
	if got := testutil.ToFloat64(c.m.badPoints); got != 0 {
		t.Errorf("refused points = %v, want 0 (a retried point learned twice is refused as out of order)", got)
	}
	if got := testutil.ToFloat64(c.m.learned); got != 120 {
		t.Errorf("learned = %v, want 120", got)
	}
}
