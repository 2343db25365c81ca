// Package store keeps the anomaly timeline and the peer rules across
// restarts, in one bbolt file (FileName in the data directory).
//
// # Layout
//
// Buckets of the file (schema version 1, in bucket meta):
//
//	anomalies    id (8 bytes, big endian) -> record (see codec.go)
//	by_start     start (8) + id (8) -> index value
//	by_series    uvarint len(series) + series + start (8) + id (8) -> index value
//	by_resolved  resolution wall time (8) + id (8) -> empty
//	meta         "schema" -> 1; "max_id" -> highest anomaly id seen (8)
//	peer_rules   position (4) -> rule JSON
//
// Times in keys are Unix nanoseconds with the sign bit flipped, so byte
// order is time order. An index value holds whether the anomaly resolved
// and its end, so that queries filter by state and time from the index
// alone and decode only the records they return.
//
// # Writes and the loss window
//
// Record is called by the engine's shard goroutines for every event. It
// changes the anomaly in memory under one mutex (about a map lookup; no
// I/O) and marks it pending. One writer goroutine writes the pending
// anomalies every FlushInterval (100 ms), or as soon as FlushAnomalies
// (1024) are pending, in one transaction synced to disk, and then forgets
// the resolved ones; open anomalies stay in memory for as long as they are
// open. Several events on one anomaly within an interval cost one write.
//
// A crash (SIGKILL, power loss) loses the events recorded since the last
// write that completed: at most FlushInterval plus one write's duration.
// Close writes everything pending before it returns, so a clean shutdown
// loses nothing. When MaxPending anomalies are waiting (the disk is stuck
// or failing), events that would open a new anomaly are dropped and
// counted; changes to anomalies already held are always kept.
//
// # Retention
//
// Resolved anomalies are deleted Retention (30 days) after their
// resolution was recorded, measured on the wall clock, not on the points'
// timestamps (so a replay of old data is not deleted at once); and beyond
// MaxAnomalies the oldest resolved ones by start time go first. Open
// anomalies are never deleted. Retention runs on Open, every
// RetentionInterval (1 minute) and after a write that takes the count over
// the bound. The highest id ever recorded stays in meta, so ids continue
// after a restart even when retention deleted every anomaly.
//
// # Reads
//
// Query walks by_start (by_series with a series filter) backwards from the
// cursor or Until and merges the anomalies held in memory; its filters,
// limits, errors and cursors are those of timeline.Memory, and a cursor of
// one is valid in the other. Get looks in memory, then in the file.
package store
