// Package notify tells people about anomalies: signed webhooks (Standard
// Webhooks), Prometheus Alertmanager, silences, change events and the
// incident view (severity, incident key, hold-down) that both use.
//
// Every notifier is a subscriber of the event log (eventlog.Log) with its
// own cursor (eventlog.Cursors): a webhook endpoint is one subscriber
// named "webhook:<id>", an Alertmanager one named "alertmanager:<url>". A
// slow or failing destination lags behind its cursor and never slows
// ingest or the other destinations. Delivery is at-least-once and in order
// per series; receivers deduplicate by the webhook-id header (stable per
// event) and by the incident key.
//
// The write path tells the Hub about each event before it is appended to
// the log (Hub.Observe): that is where an anomaly gets its incident key
// (stable across a flap within the hold-down), so that every subscriber
// reads the same one. Observe works in memory only; the incident table is
// written to the data directory on a short interval and at Close.
//
// Silences and the learning hook: a silence whose skip_learning is set
// makes Hub.SkipLearning report true for the points of matching series
// inside its window; the write path scores those points without learning
// them (see LearningFilter).
//
// Times: silences and the possible-cause window are judged on the data's
// own timestamps (the event's At), so that replaying the log after a
// restart gives the same answer.
//
// Persistence: with a data directory the subscriptions, delivery logs,
// silences, change events, incidents and Alertmanager state live in
// notify.db (bbolt) beside the other state files; without one, in memory.
package notify
