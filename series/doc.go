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
// Inside the engine the hash picks the shard and the index position, and
// the stored key settles identity: two series whose hashes collide
// (probability about n²/2⁶⁵, 3e-8 at a million series) are two series with
// two models, on the write path and on reads.
//
// # Engine
//
// The Engine keeps one learned models.Model per live series. Series are
// spread over N shards by hash (hash % N); each shard is owned by one
// goroutine that receives batches of points over a bounded channel, so the
// per-point path takes no lock and makes no allocation. A shard keeps
// nothing per series that holds a pointer, and no heap object per series:
//
//   - slots: pointer-free structs (the model and bookkeeping) in chunks of
//     4096, the next chunk allocated and its pages touched ahead by a
//     helper goroutine, freed slots reused;
//   - keys: the canonical text in a byte arena (arena.go), 256 KiB chunks,
//     named by chunk, offset and length in the slot; keys of evicted series
//     are reclaimed by moving the keys of sparse chunks (compaction);
//   - index: an open-addressing table of uint64 entries, 32 hash bits and
//     a slot number (index.go), doubling as series arrive, placed by
//     the hash mixed with a secret seed, and checked against the
//     slot's hash and key.
//
// A sorted listing reads each slot's last verdict, not a dense copy kept
// beside the slots (observe.go, shard.rank).
//
// At a million series each of a point's index entry, slot and key is a
// cache miss, each on a page of its own. A shard reads them ahead for the
// next 128 points of a batch (shard.warm), one pass per step of the chain entry -> slot ->
// key, so that within a pass the loads of different points do not depend
// on each other and their misses overlap; the slot the read-ahead found
// is the apply loop's first candidate (lookupHint), checked against the
// hash and key, so the table is probed once per point. Ingest likewise
// reads the samples' series texts ahead of parsing them.
//
// The garbage collector does not scan any of it: its marking work does not
// grow with the series. A series costs its slot plus about
// 60 bytes and its key length (BenchmarkEngineMemory). Keys are
// canonicalised into a per-request buffer and copied once, when a series is
// created; strings over the arena stay inside the engine, and what leaves
// it (verdicts, events, listings, exports) is a copy.
//
// With a cap (the default), a shard at its share of the cap evicts the
// least recently updated of the next 32 series after a clock hand
// (lastUpdate, kept in the slot): CLOCK-style sampling that costs nothing
// per point and one cache line per candidate per creation, exact while a
// shard holds 32 series or fewer. MemoryLimit gives the Go memory limit
// for a cap; `detector serve` sets it unless GOMEMLIMIT is set.
//
// The shard goroutine holds its shard's lock while it applies a run of a
// batch; List takes the read lock, so it waits for at most one run, never
// behind a full queue. The single-series reads (Latest, WhatIf, Get) do
// not wait for the run at all: while apply holds the lock they read under
// a structure lock and the slot's stripe lock (readpath.go).
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
