package service

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
)

// Writer is the one write path: every input (JSON ingest, line protocol,
// remote_write, backfill) calls Ingest. It applies the rules every input
// shares (the future-timestamp rule), hands the samples to the engine, and
// feeds the peer groups with the canonical keys the engine worked out, so
// that a point's identity is parsed and hashed once. It implements
// api.Ingester and is safe for concurrent use.
type Writer struct {
	engine    *series.Engine
	peers     *peers.Groups // nil: no peer groups
	maxFuture time.Duration
	now       func() time.Time
	limit     *bucket   // nil: no rate limit
	keys      sync.Pool // *[]series.Key
}

// WriterOptions configure a Writer. Zero fields take the defaults named.
type WriterOptions struct {
	// MaxFuture is how far ahead of the clock a timestamp may be; 0 turns
	// the rule off (api.DefaultConfig's MaxFuture is the service default).
	MaxFuture time.Duration
	// Now is the clock of the future-timestamp rule; default time.Now.
	Now func() time.Time
	// MaxRate bounds the points a second the writer hands to the engine
	// (0: no bound). A batch over the bound is refused whole with
	// CodeOverloaded (429 with Retry-After), like a batch for a full
	// shard queue: it fixes the service's capacity whatever the machine.
	MaxRate float64
}

// NewWriter returns the write path into engine and, when groups is not
// nil, the peer groups.
func NewWriter(engine *series.Engine, groups *peers.Groups, o WriterOptions) *Writer {
	if o.Now == nil {
		o.Now = time.Now
	}
	w := &Writer{engine: engine, peers: groups, maxFuture: o.MaxFuture, now: o.Now}
	if o.MaxRate > 0 {
		w.limit = newBucket(o.MaxRate, time.Now())
	}
	return w
}

// Ingest validates samples, learns and scores the valid ones and feeds
// the accepted ones to the peer groups. Item errors carry the index into
// samples, in index order; whole-request errors are the engine's
// (CodeOverloaded, CodeUnavailable, ctx's error). Ingest does not keep
// samples.
func (w *Writer) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	var early []anomaly.ItemError
	pass := samples
	var orig []int // orig[j] is the index in samples of pass[j]; nil when pass is samples
	if w.maxFuture > 0 {
		now := w.now()
		for i := range samples {
			if err := anomaly.CheckFuture(samples[i].TimestampMs, now, w.maxFuture); err != nil {
				err.Index, err.Field = i, "timestamp"
				early = append(early, err.Item())
			}
		}
		if len(early) > 0 {
			pass = make([]anomaly.Sample, 0, len(samples)-len(early))
			orig = make([]int, 0, cap(pass))
			next := 0
			for i := range samples {
				if next < len(early) && early[next].Index == i {
					next++
					continue
				}
				pass = append(pass, samples[i])
				orig = append(orig, i)
			}
		}
	}
	res := anomaly.IngestResult{Errors: []anomaly.ItemError{}, Anomalies: []anomaly.Verdict{}}
	if len(pass) > 0 && w.limit != nil && !w.limit.take(len(pass), time.Now()) {
		return anomaly.IngestResult{}, anomaly.Errorf(anomaly.CodeOverloaded,
			"ingest rate limit of %.0f points/s reached (%d points in this batch); retry later", w.limit.rate, len(pass))
	}
	if len(pass) > 0 {
		var err error
		if w.peers != nil && w.peers.Watching() {
			kp := w.getKeys(len(pass))
			res, err = w.engine.IngestKeys(ctx, pass, *kp)
			if err == nil && res.Accepted > 0 {
				w.peers.ObserveKeys(pass, *kp)
			}
			w.putKeys(kp)
		} else {
			// No peer rule: nobody needs the keys, and asking for them
			// costs a copy of each accepted point's key. A rule added
			// while this batch is applied sees the points from the next.
			res, err = w.engine.Ingest(ctx, pass)
		}
		if err != nil {
			return remap(res, orig, early), err
		}
	}
	return remap(res, orig, early), nil
}

// remap moves the engine's item indices back to the caller's and merges
// the writer's own rejections, in index order.
func remap(res anomaly.IngestResult, orig []int, early []anomaly.ItemError) anomaly.IngestResult {
	if len(early) == 0 {
		return res
	}
	for i := range res.Errors {
		if j := res.Errors[i].Index; j >= 0 && j < len(orig) {
			res.Errors[i].Index = orig[j]
		}
	}
	res.Errors = append(res.Errors, early...)
	slices.SortStableFunc(res.Errors, func(x, y anomaly.ItemError) int { return x.Index - y.Index })
	res.Rejected = len(res.Errors)
	if res.Anomalies == nil {
		res.Anomalies = []anomaly.Verdict{}
	}
	return res
}

func (w *Writer) getKeys(n int) *[]series.Key {
	kp, _ := w.keys.Get().(*[]series.Key)
	if kp == nil {
		kp = new([]series.Key)
	}
	*kp = slices.Grow((*kp)[:0], n)[:n]
	return kp
}

func (w *Writer) putKeys(kp *[]series.Key) {
	clear(*kp) // drop the references to key texts
	w.keys.Put(kp)
}
