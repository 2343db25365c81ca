package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/series"
)

// A partition's new owner continues its anomaly ids past the reservation
// of the old owner, even when no series state holds an id any more (the
// anomaly resolved): the changelog's anomaly-id record carries it.
func TestAnomalyIDsContinueOnNewOwner(t *testing.T) {
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
	p := cluster.Partition([]byte(key), 2)
	cfg := Config{Brokers: kc.ListenAddrs(), Topic: "points", Group: "g", SessionTimeout: 6 * time.Second, CheckpointInterval: time.Hour}
	ctx := context.Background()

	e1 := newEngine(t)
	c1, err := New(cfg, e1, e1)
	if err != nil {
		t.Fatal(err)
	}
	c1.Start()
	produce(t, prod, key, 0, 5)
	waitPoints(t, e1, key, 5)
	// Anomalies of the partition opened (and resolved) on the first owner.
	var last = e1.NextAnomalyIDFor(key)
	for range 4 {
		last = e1.NextAnomalyIDFor(key)
	}
	if got, ok := cluster.IDPartition(last); !ok || got != p {
		t.Fatalf("id %d: partition %d %v, want %d", last, got, ok, p)
	}
	if d, err := e1.Get(ctx, key); err != nil || d.AnomalyID != 0 {
		t.Fatalf("the series holds anomaly %d (%v): the test wants the id in no state", d.AnomalyID, err)
	}
	if err := c1.Close(ctx); err != nil { // checkpoint, commit, leave
		t.Fatal(err)
	}

	e2 := newEngine(t)
	c2, err := New(cfg, e2, e2)
	if err != nil {
		t.Fatal(err)
	}
	c2.Start()
	defer c2.Close(ctx)
	waitPoints(t, e2, key, 5)
	// Past the old owner's reservation (one block), so past any id it may
	// have handed out.
	if next := e2.NextAnomalyIDFor(key); next <= last+idBlock/2 || next > last+2*idBlock {
		t.Fatalf("new owner's next id = %d, want past the old owner's last %d by its reservation (%d)", next, last, idBlock)
	} else if got, ok := cluster.IDPartition(next); !ok || got != p {
		t.Fatalf("id %d: partition %d %v, want %d", next, got, ok, p)
	}
	if got := testutil.ToFloat64(c2.m.badRecords); got != 0 {
		t.Errorf("bad changelog records = %v, want 0 (the anomaly-id record is not a series)", got)
	}
	if n := e2.Stats().Series; n != 1 {
		t.Errorf("new owner holds %d series, want 1", n)
	}
}
