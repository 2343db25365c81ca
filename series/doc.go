// Package series owns series identity and the sharded in-memory engine.
//
// # Identity
//
// A series is a metric name with labels, written as Prometheus writes it:
// `play_starts{title="81234",device="tv_sony"}`. Parse validates it with
// Prometheus' rules and the Limits, and returns a Key: the canonical text
// (labels sorted by name) and its xxhash64, which is stable across processes
// and is the series' identity inside the engine. ParseMatchers parses the
// label selectors used to list series.
//
// Inside the engine the hash alone identifies a series on the write path.
// Two series whose hashes collide (probability about n²/2⁶⁵, 3e-8 at a
// million series) would share one model; reads compare the stored key and
// report such a series as not found rather than answer for the other.
//
// # Engine
//
// The Engine keeps one learned models.Model per live series. Series are
// spread over N shards by hash (hash % N); each shard is owned by one
// goroutine that receives batches of points over a bounded channel, so the
// per-point path takes no lock and makes no allocation. A shard keeps its
// series in flat slices: an index from hash to slot number and a slice of
// pointer-free slot structs (the model and bookkeeping), with the canonical
// keys in a separate []string used only for listing and reads. This layout
// keeps the garbage collector's work small at millions of series (the
// collector does not scan pointer-free slices) and costs one map lookup per
// point. The index is a map[uint64]int32 when series are not capped; with a
// cap (the default) it is the shard's golang-lru simplelru.LRU[uint64,
// int32], whose Get both finds the slot and marks the series most recently
// updated.
//
// The shard goroutine holds its shard's lock while it applies one batch;
// readers (Latest, WhatIf, List, Get) take the read lock, so a query waits
// for at most one batch, never behind a full queue.
//
// When a shard's queue is full, Ingest waits a short bounded time
// (Options.EnqueueTimeout) and then rejects that shard's points with
// anomaly.CodeOverloaded; when nothing of a batch could be accepted for that
// reason, Ingest returns an *anomaly.Error with CodeOverloaded, which the API
// answers with 429 and Retry-After.
//
// # Timestamps
//
// Per series: a point later than the last learned one is learned; a point
// with the same timestamp (a retried write) is accepted and scored against
// the current baseline but not learned; an older point is rejected with
// anomaly.CodeOutOfOrder naming the last timestamp. NaN and infinite values
// are rejected with anomaly.CodeInvalidValue.
//
// # Anomalies
//
// When the model opens an anomaly the engine assigns it the next id (an
// atomic counter), keeps it with the series and records an "opened" event;
// anomalous points of the open anomaly record "updated"; the point that
// resolves it records "resolved". Verdict.AnomalyID is set on every point
// from the opening point up to and including the resolving one. Evicting a
// series with an open anomaly records a "resolved" event carrying the
// series' last verdict, so the timeline never keeps a dangling open entry.
// Event.At is the timestamp of the point that caused the event (for an
// eviction, of the series' last learned point). Events reach the EventSink
// before Ingest returns the batch's verdicts.
package series
