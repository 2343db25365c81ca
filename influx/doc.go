// Package influx connects the detector to InfluxDB with influxdb-client-go:
//
//   - Backfiller reads history with a Flux query and feeds it, series by
//     series in timestamp order, to the write path before live points, so
//     that a new deployment judges from its first minute. While a start-up
//     backfill runs, a Gate holds live points (acknowledged, bounded) and
//     replays them after it, so they are neither lost nor learned out of
//     order.
//   - Sink writes each verdict's value, expected, lower, upper and score,
//     and the anomaly events of the event log, to a bucket, batched and off
//     the ingest path: Offer never blocks, a full buffer drops (and counts)
//     verdicts, a slow or failing InfluxDB never slows ingest.
//
// Records and verdicts map to series as line protocol does
// (ingest.SeriesName): measurement_field{tags}.
package influx
