// Package eventlog is the service's outbox: every anomaly and peer-outlier
// event (opened, updated, resolved) is appended once, gets a monotonically
// increasing sequence number, and is read back by subscribers through their
// own cursors ("entries after N").
//
// The contract every implementation keeps:
//
//   - Append never blocks on disk, on the network or on a reader: the
//     engine's shard goroutines call it in the middle of processing points.
//   - Sequence numbers start at 1, increase by one per entry and are never
//     reused, also across restarts of a durable log.
//   - Read returns entries in sequence order. Retention is bounded: when a
//     reader's cursor is older than the oldest kept entry, Read starts at
//     the oldest kept entry and the gap is visible in the first Seq.
//   - Subscribers run on their own goroutines (see Run); a slow or stuck
//     subscriber lags behind and never slows Append.
//
// Delivery is at-least-once and in order: a subscriber saves its cursor
// after it has handled a batch, so after a restart it resumes from the
// saved cursor and may see the last unsaved batch again, never a gap.
package eventlog
