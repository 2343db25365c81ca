// Package kafka makes a detector a member of a Kafka consumer group
// (franz-go): the partitions of the points topic are the shards of the
// cluster, each owned by one node.
//
// Consume: Consumer polls the points topic and hands each poll's points,
// decoded from JSON or line protocol, to the service's writer in one call.
// Points the engine refuses as overloaded wait on their partition, whose
// fetches are paused until they go in.
//
// State that moves: every CheckpointInterval the series that learned are
// written to the compacted changelog topic (one record per series, in the
// changelog partition of the same number, see changelog.go for the
// format), each with the offset of the points partition its state
// includes up to; once acknowledged, that offset is committed as the
// group's offset. A new owner restores the changelog partition, resumes
// from the committed offset and skips, per series, the records its
// restored state already includes, so that every point is learned exactly
// once. A revoked partition is checkpointed, committed and dropped from
// the engine.
//
// Events: EventsOut produces the node's events to the events topic keyed
// by series, with their identity (EventID) in a header; EventsIn consumes
// that topic in a second group, so that subscribers handle each event on
// one node of the cluster, and drops replayed duplicates by identity.
//
// Directory: the cluster.Directory of the group, from DescribeGroups (each
// node's client id is its advertised URL).
package kafka
