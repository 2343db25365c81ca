package series

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// maxPooledCanon is the largest canonicalisation buffer a pooled request
// keeps.
const maxPooledCanon = 1 << 20

// item is one valid point on its way to a shard.
type item struct {
	hash uint64
	key  string // canonical
	ts   int64
	v    float64
}

// Outcome codes of one item.
const (
	outPending    uint8 = iota
	outLearned          // accepted and learned
	outDuplicate        // accepted, same timestamp as the last point: scored only
	outOutOfOrder       // rejected: older than the last point
	outOverloaded       // rejected: the shard queue was full
)

// outcome is what a shard reports for one item. Pointer-free.
type outcome struct {
	expected, lower, upper, score, z float64
	lastTs                           int64 // the series' last timestamp, for outOutOfOrder
	id                               anomaly.ID
	needPoints                       int32
	state                            anomaly.State
	detector                         models.Detector
	code                             uint8
}

func (o *outcome) set(r *models.Result, id anomaly.ID) {
	o.expected, o.lower, o.upper, o.score, o.z = r.Expected, r.Lower, r.Upper, r.Score, r.Z
	o.id, o.needPoints, o.state, o.detector = id, int32(r.NeedPoints), r.State, r.Detector
}

// subBatch is the part of a request that one shard applies.
type subBatch struct {
	req   *request
	items []item
	outs  []outcome
}

// parsed is the identity of one sample, by sample index.
type parsed struct {
	key   Key
	shard int32 // -1 when the sample was rejected before the shards, hashLater for a moment
	inBuf bool  // key's text is in request.canon (the input was not canonical)
}

// prevSeries is the identity of the last series text identify parsed,
// which the samples after it in a run of that text share.
type prevSeries struct {
	text  string
	key   Key
	err   error
	inBuf bool
	ok    bool
}

// request holds the buffers of one Ingest call; requests are pooled so that
// the steady state allocates only the result slices.
type request struct {
	parsed []parsed
	pos    []int32 // sample index -> position in items, -1 when rejected early
	errs   []*anomaly.Error
	items  []item
	outs   []outcome
	counts []int32
	subs   []subBatch // maxChunks per shard, chunk after chunk
	prev   prevSeries // the last series parsed (identify)
	// canon holds the canonical forms of the samples whose series was not
	// written canonically: a key is made without an allocation, and the
	// shard copies it only when it creates the series.
	canon []byte
	// labels is parse's room for the labels of one series, kept with
	// the request so that no parse clears a fresh array.
	labels  [DefaultMaxLabels]fastLabel
	pending atomic.Int32
	done    chan struct{} // receives once when pending reaches 0
	sink    byte          // keeps touchSeries' loads
}

func (e *Engine) getRequest(n int) *request {
	req, _ := e.pool.Get().(*request)
	if req == nil {
		req = &request{done: make(chan struct{}, 1)}
	}
	if cap(req.parsed) < n {
		req.parsed = make([]parsed, n)
		req.pos = make([]int32, n)
		req.items = make([]item, n)
		req.outs = make([]outcome, n)
	}
	req.parsed, req.pos = req.parsed[:n], req.pos[:n]
	req.items, req.outs = req.items[:n], req.outs[:n]
	if len(req.counts) != len(e.shards) || len(req.subs) < maxChunks*len(e.shards) {
		req.counts = make([]int32, len(e.shards))
		req.subs = make([]subBatch, maxChunks*len(e.shards))
	}
	clear(req.counts)
	req.errs = req.errs[:0]
	req.canon = req.canon[:0]
	return req
}

func (e *Engine) putRequest(req *request) {
	clear(req.parsed)
	clear(req.items)
	clear(req.errs)
	clear(req.labels[:])    // substrings of the samples' series
	req.prev = prevSeries{} // the caller's text; getRequest starts from here
	for i := range req.subs {
		req.subs[i] = subBatch{}
	}
	if cap(req.canon) > maxPooledCanon {
		req.canon = nil // an outlier batch does not keep its buffer
	}
	e.pool.Put(req)
}

// Ingest validates, learns and scores a batch of samples. Every sample is
// judged on its own: valid samples are accepted even when others are
// rejected. Rejected samples are listed in Errors by index with one of
// CodeInvalidSeries, CodeLimit, CodeInvalidValue, CodeOutOfOrder or
// CodeOverloaded; Anomalies holds the verdicts of the accepted points whose
// state is anomalous, in batch order.
//
// The timestamp policy is per series (see the package doc): later points
// are learned, a repeated last timestamp is scored but not learned, older
// points are rejected.
//
// Ingest returns an *anomaly.Error with CodeOverloaded (and the result,
// whose Errors say which samples) when no sample could be accepted because
// shard queues stayed full for Options.EnqueueTimeout; CodeUnavailable
// after Close; and ctx's error when ctx ends before the verdicts are back
// (the points handed to shards are then still applied).
func (e *Engine) Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error) {
	return e.IngestKeys(ctx, samples, nil)
}

// IngestKeys is Ingest that also hands back the identity the engine worked
// out for each sample, so that nobody parses or hashes it again: when keys
// is not nil it must have len(samples) entries, and keys[i] is set to the
// canonical Key of sample i when the sample was accepted and to the zero
// Key otherwise. The keys share their text with the engine (no copy).
func (e *Engine) IngestKeys(ctx context.Context, samples []anomaly.Sample, keys []Key) (anomaly.IngestResult, error) {
	if keys != nil && len(keys) != len(samples) {
		return anomaly.IngestResult{}, fmt.Errorf("series: ingest: %d keys for %d samples", len(keys), len(samples))
	}
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return anomaly.IngestResult{}, fmt.Errorf("series: ingest: %w", err)
	}
	req := e.getRequest(len(samples))

	// The batch goes to the shards in chunks: while they apply one, the
	// identity of the next is worked out here, so one request keeps the
	// shards and this goroutine busy at once rather than in turn.
	e.closeMu.RLock()
	if e.closed {
		e.closeMu.RUnlock()
		e.putRequest(req)
		return anomaly.IngestResult{}, anomaly.Errorf(anomaly.CodeUnavailable, "series engine is shutting down")
	}
	req.pending.Store(1) // this goroutine's hold until every chunk is handed over
	d := dispatcher{timeout: e.opts.EnqueueTimeout}
	chunk := chunkLen(len(samples))
	off, valid := int32(0), 0
	for lo := 0; lo < len(samples); lo += chunk {
		hi := min(lo+chunk, len(samples))
		e.identify(req, samples, lo, hi)
		subs := req.subs[lo/chunk*len(e.shards):][:len(e.shards)]
		var n int32
		off, n = req.layout(samples, lo, hi, off, subs)
		valid += int(n)
		d.send(ctx, e, req, subs)
	}
	e.closeMu.RUnlock()
	d.stop()
	if req.pending.Add(-1) != 0 {
		select {
		case <-req.done:
		case <-ctx.Done():
			// The shards still write into req: leave it to the collector.
			return anomaly.IngestResult{}, fmt.Errorf("series: ingest: waiting for verdicts: %w", ctx.Err())
		}
	}
	overloaded := d.overloaded

	res := e.collect(req, samples, keys)
	e.putRequest(req)
	e.m.batches.Inc()
	e.m.latency.Observe(time.Since(start).Seconds())
	if res.Accepted == 0 && overloaded > 0 {
		return res, anomaly.Errorf(anomaly.CodeOverloaded,
			"ingest queues are full (%d of %d points could not be queued); retry later", overloaded, valid)
	}
	return res, nil
}

// hashLater is parsed.shard of a sample whose key parse wrote into
// request.canon, until IngestKeys hashes it.
const hashLater = -2

// touchAhead is the number of samples whose series text Ingest reads
// ahead (touchSeries).
const touchAhead = 256

// touchSeries reads the first and last byte of each sample's series text.
// A caller that built its samples from one buffer (the HTTP decoder) has
// them in order and in the cache already; one whose texts are scattered
// over the heap (a string per series, kept by the caller) would otherwise
// wait for one cache miss per sample in the identity loop, one after the
// other, where here the loads do not depend on each other and overlap.
func touchSeries(samples []anomaly.Sample) byte {
	var sink byte
	for i := range samples {
		if s := samples[i].Series; len(s) > 0 {
			sink += s[0] + s[len(s)-1]
		}
	}
	return sink
}

// maxChunks bounds the chunks of one request, and so the tasks it queues
// on each shard (a shard's queue holds Options.QueueDepth tasks). A
// variable for BenchmarkIngestChunks only, which compares 1 with 8.
var maxChunks = 8

// minChunk is the fewest samples of a chunk: below it the shards' wake-ups
// and per-task costs would show.
const minChunk = 1024

// chunkLen returns the number of samples per chunk of an n-sample batch.
func chunkLen(n int) int {
	return max(minChunk, (n+maxChunks-1)/maxChunks)
}

// identify works out the identity and shard of samples [lo, hi) into
// req.parsed and counts them per shard in req.counts (reset first).
// Consecutive samples of one series share their parse, also across
// chunks (req.prev).
func (e *Engine) identify(req *request, samples []anomaly.Sample, lo, hi int) {
	nshards := uint64(len(e.shards))
	clear(req.counts)
	pr := &req.prev
	var sink byte
	for i := lo; i < hi; i++ {
		if (i-lo)%touchAhead == 0 {
			sink += touchSeries(samples[i:min(i+touchAhead, hi)])
		}
		s := &samples[i]
		p := &req.parsed[i]
		p.shard = -1
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			req.errs = append(req.errs, anomaly.FieldError(anomaly.CodeInvalidValue, i, "value",
				"value %v is not a finite number", s.Value))
			continue
		}
		if !models.ValueInRange(s.Value) {
			req.errs = append(req.errs, valueRangeError(i, s.Value))
			continue
		}
		if !pr.ok || s.Series != pr.text {
			pr.text, pr.ok = s.Series, true
			n := len(req.canon)
			pr.key, pr.err = parse(s.Series, &e.limits, &req.canon, req.labels[:0])
			pr.inBuf = len(req.canon) > n
		}
		if pr.err != nil {
			ae := *pr.err.(*anomaly.Error)
			ae.Index, ae.Field = i, "series"
			req.errs = append(req.errs, &ae)
			continue
		}
		p.key, p.inBuf = pr.key, pr.inBuf
		if pr.inBuf {
			p.shard = hashLater
			continue
		}
		p.shard = int32(p.key.hash % nshards)
		req.counts[p.shard]++
	}
	req.sink += sink

	// The keys written into req.canon, hashed now that their bytes are
	// in the cache (parse).
	var lastText string
	var lastHash uint64
	for i := lo; i < hi; i++ {
		p := &req.parsed[i]
		if p.shard != hashLater {
			continue
		}
		if t := p.key.canonical; unsafe.StringData(t) != unsafe.StringData(lastText) || len(t) != len(lastText) {
			lastText, lastHash = t, HashString(t)
		}
		p.key.hash = lastHash
		p.shard = int32(lastHash % nshards)
		req.counts[p.shard]++
	}
}

// layout places the valid samples of [lo, hi) in req.items from position
// off, grouped by shard in batch order, and sets subs (one per shard) to
// those groups. It returns the next free position and the number placed.
func (req *request) layout(samples []anomaly.Sample, lo, hi int, off int32, subs []subBatch) (int32, int32) {
	start := off
	for s, c := range req.counts {
		subs[s] = subBatch{req: req, items: req.items[off : off+c : off+c], outs: req.outs[off : off+c : off+c]}
		req.counts[s] = off // now the next free position of shard s
		off += c
	}
	for i := lo; i < hi; i++ {
		p := &req.parsed[i]
		if p.shard < 0 {
			req.pos[i] = -1
			continue
		}
		at := req.counts[p.shard]
		req.counts[p.shard]++
		req.pos[i] = at
		req.items[at] = item{hash: p.key.hash, key: p.key.canonical, ts: samples[i].TimestampMs, v: samples[i].Value}
		req.outs[at] = outcome{}
	}
	return off, off - start
}

// dispatcher hands one request's sub-batches to their shards, chunk after
// chunk. Waiting for room in full queues is bounded by one timeout for
// the whole request; a shard that refused a sub-batch is given none of
// the request's later ones, so that no series has a later point applied
// after an earlier one was refused. Call send with e.closeMu held for
// reading and e not closed.
type dispatcher struct {
	timeout    time.Duration
	timer      *time.Timer
	expired    bool
	refused    uint64 // bit s: shard s refused a sub-batch (shards beyond 64 share bits)
	overloaded int    // items refused
}

func (d *dispatcher) send(ctx context.Context, e *Engine, req *request, subs []subBatch) {
	for i := range subs {
		sub := &subs[i]
		if len(sub.items) == 0 {
			continue
		}
		req.pending.Add(1)
		bit := uint64(1) << (i % 64)
		if d.refused&bit == 0 {
			in := e.shards[i].in
			select {
			case in <- task{sub: sub}:
				continue
			default:
			}
			if !d.expired {
				if d.timer == nil {
					d.timer = time.NewTimer(d.timeout)
				}
				select {
				case in <- task{sub: sub}:
					continue
				case <-d.timer.C:
					d.expired = true
				case <-ctx.Done():
					d.expired = true
				}
			}
		}
		d.refused |= bit
		for j := range sub.outs {
			sub.outs[j].code = outOverloaded
		}
		d.overloaded += len(sub.items)
		req.pending.Add(-1) // the hold keeps it above zero
	}
}

func (d *dispatcher) stop() {
	if d.timer != nil {
		d.timer.Stop()
	}
}

// collect builds the result in sample order and counts it in the metrics.
func (e *Engine) collect(req *request, samples []anomaly.Sample, keys []Key) anomaly.IngestResult {
	res := anomaly.IngestResult{Errors: []anomaly.ItemError{}, Anomalies: []anomaly.Verdict{}}
	var rejected [8]struct {
		code anomaly.Code
		n    int
	}
	count := func(c anomaly.Code) {
		for i := range rejected {
			if rejected[i].code == c || rejected[i].code == "" {
				rejected[i].code = c
				rejected[i].n++
				return
			}
		}
	}
	next := 0 // next entry of req.errs
	// stable returns the key of sample i as a string that outlives req: a
	// key made in req.canon is copied, once per run of samples that share it.
	var lastSrc, lastCopy string
	stable := func(i int, key string) string {
		if !req.parsed[i].inBuf {
			return key
		}
		if unsafe.StringData(key) != unsafe.StringData(lastSrc) || len(key) != len(lastSrc) {
			lastSrc, lastCopy = key, strings.Clone(key)
		}
		return lastCopy
	}
	var all []anomaly.Verdict // every accepted point's verdict, for Options.Verdicts
	if e.opts.Verdicts != nil {
		all = make([]anomaly.Verdict, 0, len(req.pos))
	}
	for i, at := range req.pos {
		if keys != nil {
			keys[i] = Key{}
		}
		if at < 0 {
			ie := req.errs[next].Item()
			next++
			res.Errors = append(res.Errors, ie)
			count(ie.Code)
			continue
		}
		o := &req.outs[at]
		it := &req.items[at]
		switch o.code {
		case outLearned, outDuplicate:
			res.Accepted++
			if keys != nil {
				keys[i] = req.parsed[i].key
				keys[i].canonical = stable(i, it.key)
			}
			if o.state == anomaly.StateAnomalous || e.opts.Verdicts != nil {
				r := models.Result{Expected: o.expected, Lower: o.lower, Upper: o.upper, Score: o.score, Z: o.z,
					State: o.state, Detector: o.detector, NeedPoints: int(o.needPoints)}
				v := verdict(stable(i, it.key), it.ts, it.v, &r, o.id)
				if o.state == anomaly.StateAnomalous {
					res.Anomalies = append(res.Anomalies, v)
				}
				if e.opts.Verdicts != nil {
					all = append(all, v)
				}
			}
		case outOutOfOrder:
			res.Errors = append(res.Errors, anomaly.ItemError{Index: i, Code: anomaly.CodeOutOfOrder, Field: "timestamp",
				Message: fmt.Sprintf("timestamp %s is before the last timestamp %s of series %s",
					fmtTs(it.ts), fmtTs(o.lastTs), it.key)})
			count(anomaly.CodeOutOfOrder)
		default: // outOverloaded, or never applied
			res.Errors = append(res.Errors, anomaly.ItemError{Index: i, Code: anomaly.CodeOverloaded,
				Message: "ingest queue full; retry later"})
			count(anomaly.CodeOverloaded)
		}
	}
	res.Rejected = len(res.Errors)
	if len(all) > 0 {
		e.opts.Verdicts(all)
	}
	if res.Accepted > 0 {
		e.m.accepted.Add(float64(res.Accepted))
	}
	for _, r := range rejected {
		if r.code == "" {
			break
		}
		e.m.rejected.WithLabelValues(string(r.code)).Add(float64(r.n))
	}
	return res
}

// fmtTs formats a Unix millisecond timestamp as RFC 3339 with milliseconds.
func fmtTs(ms int64) string {
	if ms == noTs {
		return "none"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00") + " (" + strconv.FormatInt(ms, 10) + " ms)"
}
