package eventlog

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

func ev(id uint64) anomaly.Event {
	return anomaly.Event{Kind: anomaly.EventOpened, AnomalyID: anomaly.ID(id), Series: "s"}
}

func TestMemoryReadAfterAndRetention(t *testing.T) {
	m := NewMemory(3, 0)
	for i := uint64(1); i <= 5; i++ {
		if got := m.Append(ev(i)); got != i {
			t.Fatalf("Append #%d = seq %d, want %d", i, got, i)
		}
	}
	got, _ := m.Read(context.Background(), 0, 10)
	if len(got) != 3 || got[0].Seq != 3 || got[2].Seq != 5 {
		t.Fatalf("Read(0) = %+v, want seqs 3..5 (retention 3)", got)
	}
	got, _ = m.Read(context.Background(), 3, 1)
	if len(got) != 1 || got[0].Seq != 4 || got[0].Event.AnomalyID != 4 {
		t.Fatalf("Read(3, max 1) = %+v, want seq 4", got)
	}
	if got, _ = m.Read(context.Background(), 5, 10); len(got) != 0 {
		t.Fatalf("Read(5) = %+v, want none", got)
	}
}

func TestRunDeliversInOrderAndResumes(t *testing.T) {
	m := NewMemory(0, 0)
	cur := NewMemoryCursors()
	for i := uint64(1); i <= 10; i++ {
		m.Append(ev(i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []uint64
	failed := false
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, m, cur, "sub", func(_ context.Context, b []Entry) error {
			mu.Lock()
			defer mu.Unlock()
			if !failed {
				failed = true
				return errors.New("receiver down")
			}
			for _, e := range b {
				seen = append(seen, e.Seq)
			}
			if seen[len(seen)-1] == 10 {
				cancel()
			}
			return nil
		}, RunOptions{Batch: 4, RetryDelay: time.Millisecond})
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	for i, s := range seen {
		if s != uint64(i+1) {
			t.Fatalf("delivered %v, want 1..10 in order, each once", seen)
		}
	}
	if c, _ := cur.Load("sub"); c != 10 {
		t.Fatalf("saved cursor = %d, want 10", c)
	}
}

// The ring grows past its initial capacity up to the retention.
func TestMemoryKeepsRetentionBeyondInitialCapacity(t *testing.T) {
	m := NewMemory(10_000, 0)
	for i := uint64(1); i <= 6000; i++ {
		m.Append(ev(i))
	}
	got, _ := m.Read(context.Background(), 0, 10_000)
	if len(got) != 6000 || got[0].Seq != 1 || got[5999].Seq != 6000 {
		t.Fatalf("Read(0) = %d entries from seq %d, want 6000 from seq 1", len(got), got[0].Seq)
	}
	for i := uint64(6001); i <= 12_000; i++ {
		m.Append(ev(i))
	}
	got, _ = m.Read(context.Background(), 0, 20_000)
	if len(got) != 10_000 || got[0].Seq != 2001 || got[9999].Seq != 12_000 {
		t.Fatalf("after wrap: %d entries from seq %d, want 10000 from 2001", len(got), got[0].Seq)
	}
}
