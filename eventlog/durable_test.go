package eventlog

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/anomalyd/detector/anomaly"
)

func openDurable(t *testing.T, path string, o DurableOptions) *Durable {
	t.Helper()
	d, err := OpenDurable(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// consume runs a subscriber until it has seen the entry until, and
// returns the sequence numbers it was handed.
func consume(t *testing.T, log Log, cur Cursors, until uint64) []uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	var seen []uint64
	err := Run(ctx, log, cur, "sub", func(_ context.Context, b []Entry) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range b {
			seen = append(seen, e.Seq)
			if e.Event.AnomalyID != anomaly.ID(e.Seq) {
				t.Errorf("entry %d carries anomaly %d, want %d", e.Seq, e.Event.AnomalyID, e.Seq)
			}
		}
		if seen[len(seen)-1] >= until {
			cancel()
		}
		return nil
	}, RunOptions{Batch: 3})
	if ctx.Err() == nil || err == nil {
		t.Fatalf("Run = %v before reaching %d", err, until)
	}
	return seen
}

// TestDurableResumesAfterRestart: a subscriber that handled part of the
// log, then restarts with the whole service (the log closed and opened
// again), receives every later entry exactly once, in sequence order; and
// sequence numbers continue after the restart.
func TestDurableResumesAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	d, err := OpenDurable(path, DurableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 10; i++ {
		d.Append(ev(i))
	}
	if got := consume(t, d, d.Cursors(), 5); len(got) == 0 || got[0] != 1 {
		t.Fatalf("first run saw %v, want from 1", got)
	}
	saved, _ := d.Cursors().Load("sub")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d2 := openDurable(t, path, DurableOptions{})
	if got, _ := d2.Cursors().Load("sub"); got != saved {
		t.Fatalf("cursor after restart = %d, want the saved %d", got, saved)
	}
	if d2.Last() != 10 {
		t.Fatalf("Last after restart = %d, want 10", d2.Last())
	}
	for i := uint64(11); i <= 15; i++ {
		if seq := d2.Append(ev(i)); seq != i {
			t.Fatalf("Append after restart = seq %d, want %d", seq, i)
		}
	}
	got := consume(t, d2, d2.Cursors(), 15)
	for i, s := range got {
		if s != saved+uint64(i)+1 {
			t.Fatalf("after restart the subscriber saw %v, want %d..15 once each, in order", got, saved+1)
		}
	}
	if got[len(got)-1] != 15 {
		t.Fatalf("after restart the subscriber saw %v, want up to 15", got)
	}
}

// TestDurableRetention: only the newest Retention entries are kept, in
// memory and on disk; a reader behind them starts at the oldest kept.
func TestDurableRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	d, err := OpenDurable(path, DurableOptions{Retention: 5000, FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 12000; i++ {
		d.Append(ev(i))
	}
	got, _ := d.Read(context.Background(), 0, 10)
	if len(got) != 10 || got[0].Seq != 7001 {
		t.Fatalf("Read(0) = %d entries from %d, want from 7001 (retention 5000)", len(got), got[0].Seq)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := openDurable(t, path, DurableOptions{Retention: 5000})
	got, _ = d2.Read(context.Background(), 0, 6000)
	if len(got) != 5000 || got[0].Seq != 7001 || got[4999].Seq != 12000 {
		t.Fatalf("after restart Read(0) = %d entries %d..%d, want 5000 from 7001 to 12000", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	var n int
	d2.db.View(func(tx *bolt.Tx) error { n = tx.Bucket(bucketEntries).Stats().KeyN; return nil })
	if n != 5000 {
		t.Errorf("entries on disk = %d, want 5000", n)
	}
}

// TestDurableCursorNotBeyondDisk: a cursor saved past the newest entry on
// disk (the subscriber was faster than the writer) is written as the
// newest entry written with it.
func TestDurableCursorNotBeyondDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	d := openDurable(t, path, DurableOptions{})
	d.Append(ev(1))
	d.Cursors().Save("sub", 7)
	if err := d.flush(); err != nil {
		t.Fatal(err)
	}
	d.Close()
	d2 := openDurable(t, path, DurableOptions{})
	if got, _ := d2.Cursors().Load("sub"); got != 1 {
		t.Errorf("cursor after restart = %d, want 1", got)
	}
}

// TestMemoryRetentionBeyondInitialCapacity: the ring holds its whole
// retention, not only what it first allocated.
func TestMemoryRetentionBeyondInitialCapacity(t *testing.T) {
	m := NewMemory(10000, 0)
	for i := uint64(1); i <= 10001; i++ {
		m.Append(ev(i))
	}
	got, _ := m.Read(context.Background(), 0, 20000)
	if len(got) != 10000 || got[0].Seq != 2 {
		t.Fatalf("Read(0) = %d entries from %d, want 10000 from 2", len(got), got[0].Seq)
	}
}
