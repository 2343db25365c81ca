package series

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// chunkedBatch is a batch of several chunks (chunkLen) whose runs of one
// series cross the chunk boundaries, with labels written out of order
// (canonicalised into the request's buffer and hashed later) and in
// order, rejected samples at and around the boundaries and an
// out-of-order point.
func chunkedBatch() []anomaly.Sample {
	var out []anomaly.Sample
	ts := map[int]int64{}
	for len(out) < 5*minChunk+300 {
		s := len(out) % 37
		run := 1 + (len(out)*7)%90 // 1-90 points of series s in a row
		for range run {
			name := fmt.Sprintf(`req{zone="z%d",app="a%d"}`, s%3, s) // out of order
			if s%2 == 0 {
				name = fmt.Sprintf(`req{app="a%d",zone="z%d"}`, s, s%3) // canonical
			}
			ts[s] += 60_000
			v := 100 + float64((len(out)*13)%17)
			out = append(out, anomaly.Sample{Series: name, TimestampMs: ts[s], Value: v})
		}
	}
	out[minChunk-1].Value = math.NaN()
	out[minChunk].Value = math.Inf(1)
	out[2*minChunk-1].Series = `req{app="a1",app="a2"}`
	out[2*minChunk].Series = "bad name"
	out[3*minChunk].TimestampMs = 60_000 // before the series' last point
	out[4*minChunk+5].TimestampMs = out[4*minChunk+4].TimestampMs
	out[4*minChunk+5].Series = out[4*minChunk+4].Series // a duplicate
	return out
}

// verdictLog keeps every accepted point's verdict (Options.Verdicts).
type verdictLog struct {
	mu sync.Mutex
	vs []anomaly.Verdict
}

func (l *verdictLog) add(vs []anomaly.Verdict) {
	l.mu.Lock()
	l.vs = append(l.vs, vs...)
	l.mu.Unlock()
}

// TestIngestInChunks checks that a batch handed to the shards in chunks
// gets the answers and leaves the state that the same points sent in
// batches of less than one chunk do.
func TestIngestInChunks(t *testing.T) {
	samples := chunkedBatch()
	if n := (len(samples) + chunkLen(len(samples)) - 1) / chunkLen(len(samples)); n < 5 {
		t.Fatalf("the batch makes %d chunks, want at least 5", n)
	}
	var whole, pieces verdictLog
	ew := newEngine(t, Options{Shards: 3, Verdicts: whole.add})
	ep := newEngine(t, Options{Shards: 3, Verdicts: pieces.add})

	keys := make([]Key, len(samples))
	got, err := ew.IngestKeys(context.Background(), samples, keys)
	if err != nil {
		t.Fatal(err)
	}
	var want anomaly.IngestResult
	want.Errors = []anomaly.ItemError{}
	const piece = 500
	for lo := 0; lo < len(samples); lo += piece {
		r := mustIngest(t, ep, samples[lo:min(lo+piece, len(samples))])
		want.Accepted += r.Accepted
		want.Rejected += r.Rejected
		for _, e := range r.Errors {
			e.Index += lo
			want.Errors = append(want.Errors, e)
		}
	}
	if got.Accepted != want.Accepted || got.Rejected != want.Rejected {
		t.Errorf("in one batch: %d accepted, %d rejected; in pieces: %d, %d", got.Accepted, got.Rejected, want.Accepted, want.Rejected)
	}
	if want.Rejected != 5 {
		t.Errorf("%d rejected, want 5 (two bad values, two bad series, one out of order)", want.Rejected)
	}
	if !slices.Equal(got.Errors, want.Errors) {
		t.Errorf("errors in one batch:\n%v\nin pieces:\n%v", got.Errors, want.Errors)
	}
	bySeries := func(vs []anomaly.Verdict) map[string][]anomaly.Verdict {
		m := map[string][]anomaly.Verdict{}
		for _, v := range vs {
			m[v.Series] = append(m[v.Series], v)
		}
		return m
	}
	gw, gp := bySeries(whole.vs), bySeries(pieces.vs)
	if len(gw) != 37 || len(gw) != len(gp) {
		t.Fatalf("verdicts for %d series in one batch, %d in pieces, want 37", len(gw), len(gp))
	}
	for s, vs := range gp {
		if !slices.EqualFunc(gw[s], vs, func(a, b anomaly.Verdict) bool {
			return a.Timestamp.Equal(b.Timestamp) && a.Value == b.Value && a.Expected == b.Expected && a.Score == b.Score && a.State == b.State
		}) {
			t.Errorf("series %s: %d verdicts in one batch differ from the %d in pieces", s, len(gw[s]), len(vs))
		}
	}

	// The keys handed back carry the hash of their canonical text, and
	// each series is found under the text it was written as.
	for i, k := range keys {
		if k.canonical == "" {
			continue
		}
		if k.hash != HashString(k.canonical) {
			t.Fatalf("sample %d: key %s has hash %x, want %x", i, k.canonical, k.hash, HashString(k.canonical))
		}
	}
	for _, s := range []string{samples[1].Series, samples[len(samples)-1].Series} {
		v, err := ew.Latest(context.Background(), s)
		if err != nil {
			t.Fatalf("Latest(%s): %v", s, err)
		}
		if w, _ := ep.Latest(context.Background(), s); v.Timestamp != w.Timestamp || v.Value != w.Value {
			t.Errorf("Latest(%s) = %v at %v, in pieces %v at %v", s, v.Value, v.Timestamp, w.Value, w.Timestamp)
		}
	}
}

// TestDispatcherRefusesAfterRefusal checks that once a shard's queue
// refused one chunk of a request, that shard gets none of the request's
// later chunks, even when room appears: a later point of a series must
// not be applied after an earlier one was refused.
func TestDispatcherRefusesAfterRefusal(t *testing.T) {
	clk := newClock()
	e := newEngine(t, Options{Shards: 1, QueueDepth: 1, EnqueueTimeout: 5 * time.Millisecond, Now: clk.Now})
	sh := e.shards[0]
	clk.Hold()
	go e.Ingest(context.Background(), flat("a", 0, 1)) //nolint:errcheck // released below
	waitFor(t, "the shard to take a batch", func() bool { return clk.Waiting() == 1 })
	filler := &request{done: make(chan struct{}, cap(sh.in))}
	filler.pending.Store(int32(cap(sh.in)))
	for len(sh.in) < cap(sh.in) {
		sh.in <- task{sub: &subBatch{req: filler}}
	}

	sub := func(req *request, key string) []subBatch {
		return []subBatch{{req: req, items: []item{{hash: HashString(key), key: key, ts: 60_000, v: 1}}, outs: make([]outcome, 1)}}
	}
	req := &request{done: make(chan struct{}, 1)}
	d := dispatcher{timeout: e.opts.EnqueueTimeout}
	e.closeMu.RLock()
	first := sub(req, "b")
	d.send(context.Background(), e, req, first)
	if d.overloaded != 1 || first[0].outs[0].code != outOverloaded {
		t.Fatalf("into a full queue: %d refused, code %d; want 1, overloaded", d.overloaded, first[0].outs[0].code)
	}
	<-sh.in // room for one
	sh.in <- task{sub: &subBatch{req: filler}}
	<-sh.in
	second := sub(req, "b")
	d.send(context.Background(), e, req, second)
	if d.overloaded != 2 || second[0].outs[0].code != outOverloaded || len(sh.in) != cap(sh.in)-1 {
		t.Errorf("after a refusal, with room: %d refused, code %d, queue %d of %d; want 2, overloaded, the room left", d.overloaded, second[0].outs[0].code, len(sh.in), cap(sh.in))
	}
	other := &request{done: make(chan struct{}, 1)}
	od := dispatcher{timeout: e.opts.EnqueueTimeout}
	od.send(context.Background(), e, other, sub(other, "c"))
	e.closeMu.RUnlock()
	d.stop()
	od.stop()
	if od.overloaded != 0 || len(sh.in) != cap(sh.in) {
		t.Errorf("another request: %d refused, queue %d of %d; want it queued", od.overloaded, len(sh.in), cap(sh.in))
	}
	clk.Release()
	select {
	case <-other.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the queued chunk was not applied")
	}
	if v, err := e.Latest(context.Background(), "c"); err != nil || v.Value != 1 {
		t.Errorf("Latest(c) = %+v, %v; want the queued point", v, err)
	}
	if _, err := e.Latest(context.Background(), "b"); anomaly.ErrorCode(err) != anomaly.CodeNotFound {
		t.Errorf("Latest(b) error %v, want not found: both of its chunks were refused", err)
	}
}
