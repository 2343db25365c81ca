// Package timeline keeps the anomaly timeline: it folds the engine's
// anomaly events (opened, updated, resolved) into one anomaly.Anomaly entry
// per anomaly and answers queries over them, newest first.
//
// The contract every store implements is two-sided:
//
//   - Recorder takes events. Record is called from the engine's shard
//     goroutines while they process points, so it must be safe for
//     concurrent use, must not block on I/O for long and must not fail: a
//     store that persists buffers or drops, it does not push back.
//   - Reader answers Query and Get, safe for concurrent use with Record.
//
// Memory is the in-memory store: bounded, with the oldest resolved anomalies
// dropped first. A persistent store implements the same two interfaces.
//
// # Order and cursors
//
// Anomalies are ordered by start time, newest first, ties broken by id
// (higher first). A cursor is the opaque encoding of the last (start, id)
// key a page returned; the next page starts strictly after that key. New
// anomalies inserted between two calls therefore never shift or repeat the
// entries of later pages: they either sort before the cursor (and belong to
// pages already read) or after it (and show up where they belong).
package timeline
