package series

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// concurrencyObserver records how many shards were inside apply (where
// observers are called) at once.
type concurrencyObserver struct {
	in, max atomic.Int32
}

func (o *concurrencyObserver) Observe(*Observed) {
	n := o.in.Add(1)
	for {
		m := o.max.Load()
		if n <= m || o.max.CompareAndSwap(m, n) {
			break
		}
	}
	runtime.Gosched() // give another shard the chance to overlap
	o.in.Add(-1)
}

func TestAppliersBoundShardsApplyingAtOnce(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEngine(t, Options{Shards: 4, Appliers: n, MaxSeries: -1})
			obs := &concurrencyObserver{}
			e.SetObserver(obs)
			var wg sync.WaitGroup
			for p := range 4 { // four producers keep every shard's queue busy
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r := range 3 {
						batch := make([]anomaly.Sample, 0, 2000)
						for s := range 2000 {
							batch = append(batch, anomaly.Sample{Series: fmt.Sprintf("m{p=\"%d\",s=\"%d\"}", p, s), TimestampMs: int64(r+1) * 60000, Value: float64(s % 7)})
						}
						if _, err := e.Ingest(context.Background(), batch); err != nil {
							t.Errorf("Ingest: %v", err)
						}
					}
				}()
			}
			wg.Wait()
			if got := obs.max.Load(); got > int32(n) || got < 1 {
				t.Fatalf("at most %d shards applied at once: got %d", n, got)
			}
		})
	}
}

// blockingObserver blocks the first point it sees once armed, until
// released.
type blockingObserver struct {
	armed   atomic.Bool
	blocked chan uint64 // the hash of the blocked point's series
	release chan struct{}
}

func (o *blockingObserver) Observe(p *Observed) {
	if o.armed.CompareAndSwap(true, false) {
		o.blocked <- p.Hash
		<-o.release
	}
}

// A shard waiting for an apply turn holds no lock: its series are read
// while another shard holds the only turn.
func TestAppliersWaitingShardServesReads(t *testing.T) {
	e := newEngine(t, Options{Shards: 2, Appliers: 1, MaxSeries: -1})
	obs := &blockingObserver{blocked: make(chan uint64, 1), release: make(chan struct{})}
	e.SetObserver(obs)
	// One series in each shard.
	names := map[*shard]string{}
	for i := 0; len(names) < 2; i++ {
		s := fmt.Sprintf("m{i=\"%d\"}", i)
		_, sh, err := e.lookup(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := names[sh]; !ok {
			names[sh] = s
		}
	}
	var batch []anomaly.Sample
	for _, s := range names {
		batch = append(batch, anomaly.Sample{Series: s, TimestampMs: 60000, Value: 1})
	}
	mustIngest(t, e, batch)
	for i := range batch {
		batch[i].TimestampMs = 120000
	}

	obs.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := e.Ingest(context.Background(), batch)
		done <- err
	}()
	var h uint64
	select {
	case h = <-obs.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("no shard applied the batch")
	}
	var other string
	for sh, s := range names {
		if sh != e.shardOf(h) {
			other = s
		}
	}
	read := make(chan anomaly.Verdict, 1)
	go func() {
		v, err := e.Latest(context.Background(), other)
		if err != nil {
			t.Errorf("Latest(%s): %v", other, err)
		}
		read <- v
	}()
	select {
	case v := <-read:
		if got := v.Timestamp.UnixMilli(); got != 60000 {
			t.Errorf("while another shard held the only apply turn, %s learned a point: last timestamp %d, want 60000", other, got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read of a shard waiting for its apply turn did not answer")
	}
	close(obs.release)
	if err := <-done; err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	for _, s := range names {
		v, err := e.Latest(context.Background(), s)
		if err != nil || v.Timestamp.UnixMilli() != 120000 {
			t.Errorf("Latest(%s) after the batch = %v, %v; want timestamp 120000", s, v.Timestamp, err)
		}
	}
}

func TestNewAppliersNoBound(t *testing.T) {
	for _, c := range []struct{ n, shards int }{{0, 2}, {-1, 2}, {2, 2}, {3, 2}} {
		if a := newAppliers(c.n, c.shards); a != nil {
			t.Errorf("newAppliers(%d, %d) bounds at %d, want no bound", c.n, c.shards, cap(a))
		}
	}
	if a := newAppliers(1, 2); cap(a) != 1 {
		t.Errorf("newAppliers(1, 2) = %d turns, want 1", cap(a))
	}
}
