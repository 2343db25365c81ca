package influx

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// Gate is an Ingester in front of the writer that can hold live points
// while a start-up backfill runs: held points are acknowledged (accepted,
// no verdicts in the answer), kept in order up to a bound (beyond it the
// answer is CodeOverloaded, so senders retry) and handed to the writer
// after the backfill, in arrival order. Their verdicts reach the event log
// and the verdict sink as usual. Safe for concurrent use.
type Gate struct {
	next  Ingester
	max   int
	log   *slog.Logger
	mu    sync.Mutex
	held  bool
	queue [][]anomaly.Sample
	n     int // samples in queue
}

// NewGate returns an open gate in front of next holding at most max
// samples (default 1,000,000) while closed.
func NewGate(next Ingester, max int, log *slog.Logger) *Gate {
	if max <= 0 {
		max = 1_000_000
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gate{next: next, max: max, log: log}
}

// Next is the writer behind the gate (for the backfill itself).
func (g *Gate) Next() Ingester { return g.next }

// Hold starts holding live points.
func (g *Gate) Hold() {
	g.mu.Lock()
	g.held = true
	g.mu.Unlock()
}

// Held reports the number of points waiting.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// Ingest implements Ingester.
func (g *Gate) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	g.mu.Lock()
	if !g.held {
		g.mu.Unlock()
		return g.next.Ingest(ctx, samples)
	}
	if g.n+len(samples) > g.max {
		g.mu.Unlock()
		return anomaly.IngestResult{}, anomaly.Errorf(anomaly.CodeOverloaded,
			"a backfill is running and %d live points wait for it; retry later", g.max)
	}
	g.queue = append(g.queue, slices.Clone(samples))
	g.n += len(samples)
	g.mu.Unlock()
	return anomaly.IngestResult{Accepted: len(samples), Errors: []anomaly.ItemError{}, Anomalies: []anomaly.Verdict{}}, nil
}

// Release hands the held points to the writer in arrival order (points
// arriving meanwhile queue behind them) and opens the gate once the queue
// is empty. Batches the writer refuses for full queues are retried; other
// rejections are logged. It returns ctx's error if ctx ends first (the
// gate then stays closed).
func (g *Gate) Release(ctx context.Context) error {
	replayed, rejected := 0, 0
	for {
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.held = false
			g.mu.Unlock()
			if replayed > 0 {
				g.log.Info("live points held during the backfill replayed", "points", replayed, "rejected", rejected)
			}
			return nil
		}
		b := g.queue[0]
		g.queue[0] = nil
		g.queue = g.queue[1:]
		g.mu.Unlock()
		for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
			r, err := g.next.Ingest(ctx, b)
			if err == nil {
				replayed += r.Accepted
				rejected += r.Rejected
				break
			}
			if anomaly.ErrorCode(err) != anomaly.CodeOverloaded {
				g.log.Error("replaying held points", "points", len(b), "error", err)
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
		}
		g.mu.Lock()
		g.n -= len(b)
		g.mu.Unlock()
	}
}
