// Package service is the service layer: what cmd/detector wires but does
// not own, and what tests and other binaries reuse.
//
//   - The write path. Writer is the one thing every input calls (JSON
//     ingest today; line protocol, remote_write, backfill): it applies the
//     rules every input shares (the future-timestamp rule,
//     Config.MaxIngestRate), hands the samples to the engine with
//     series.Engine.IngestKeys and feeds the peer groups with the canonical
//     keys the engine worked out, so that a point's identity is parsed and
//     hashed once. It implements api.Ingester.
//   - The event path. The engine's shard goroutines, the peer groups and
//     the restart reconciliation record every anomaly event through one
//     anomaly.Recorder that appends to the event log (Events), which never
//     blocks them. Subscribers read the log from their own cursor
//     (Cursors), each on its own goroutine (Subscribe, or eventlog.Run
//     directly): the timeline is one, folding the log into the backend
//     OpenTimeline chose; webhooks, Alertmanager, remediation and the
//     console are others. With a data directory the log and the cursors
//     are durable (eventlog.Durable in events.db).
//   - Start-up and shutdown. Open opens the data directory, folds the
//     log's backlog into the timeline, starts the engine, restores the
//     newest good snapshot (migrating older model encodings, refusing newer
//     ones) and resolves the anomalies the previous run left open; Start
//     starts the snapshot and peer tickers; Close drains, writes the final
//     snapshot, lets the timeline catch up and closes the files, in that
//     order.
//
// Subscribers started with eventlog.Run outside Subscribe must stop before
// Close, so that their last cursor is saved with the log.
package service
