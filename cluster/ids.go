package cluster

import (
	"sync/atomic"

	"github.com/anomalyd/detector/anomaly"
)

// Anomaly ids in a cluster. A single node numbers its anomalies 1, 2, 3...
// In a group each partition numbers its own: the id of an anomaly is
//
//	(partition+1) << IDSeqBits | sequence
//
// where partition is the points partition of the anomaly's series and the
// sequence counts that partition's anomalies from 1. Two nodes never hand
// out the same id (a partition has one owner at a time), and a new owner
// continues the partition's sequence past the highest id it restored, so
// the id says where the anomaly lives (IDPartition) and stays the same
// when its partition moves. Every id is below 2^53, so it survives a JSON
// number in any client, and ids of a single node (below 2^IDSeqBits) are
// never taken for a partition's.
const (
	IDSeqBits     = 40
	MaxPartitions = 1<<(53-IDSeqBits) - 1 // 8191
	idSeqMask     = 1<<IDSeqBits - 1
)

// IDPartition returns the partition an anomaly id was numbered in, and
// false for an id of a single node (or one no partition could number).
func IDPartition(id anomaly.ID) (int32, bool) {
	hi := uint64(id) >> IDSeqBits
	if hi == 0 || hi > MaxPartitions {
		return 0, false
	}
	return int32(hi - 1), true
}

// PartitionIDs numbers anomalies per partition (series.IDSpace): the
// series' routing key (RoutingKey with the key labels) picks the partition
// as the producers' partitioner does. Safe for concurrent use.
type PartitionIDs struct {
	labels []string
	seq    []atomic.Uint64 // per partition, the last sequence number handed out
}

// NewPartitionIDs returns the id space of n partitions (1..MaxPartitions)
// whose points are keyed with labels.
func NewPartitionIDs(n int32, labels []string) *PartitionIDs {
	n = max(min(n, MaxPartitions), 1)
	return &PartitionIDs{labels: append([]string(nil), labels...), seq: make([]atomic.Uint64, n)}
}

// Next returns a new id for an anomaly of the series with canonical key
// key. It does not keep key.
func (p *PartitionIDs) Next(key string) anomaly.ID {
	part := Partition([]byte(RoutingKey(key, p.labels)), int32(len(p.seq)))
	s := p.seq[part].Add(1) & idSeqMask
	return anomaly.ID(uint64(part+1)<<IDSeqBits | s)
}

// Reserve makes sure the sequence of id's partition continues past id.
// Ids of a single node, or of a partition beyond the count, are ignored.
func (p *PartitionIDs) Reserve(id anomaly.ID) {
	part, ok := IDPartition(id)
	if !ok || int(part) >= len(p.seq) {
		return
	}
	s := uint64(id) & idSeqMask
	c := &p.seq[part]
	for {
		cur := c.Load()
		if cur >= s || c.CompareAndSwap(cur, s) {
			return
		}
	}
}

// Last returns the highest id partition part handed out or reserved (0
// when none).
func (p *PartitionIDs) Last(part int32) anomaly.ID {
	if part < 0 || int(part) >= len(p.seq) {
		return 0
	}
	s := p.seq[part].Load()
	if s == 0 {
		return 0
	}
	return anomaly.ID(uint64(part+1)<<IDSeqBits | s)
}

// Ahead returns the id n past the highest id partition part handed out or
// reserved: what an owner reserves for itself (records in its changelog)
// before it hands out ids, so that a successor starts past every id it may
// have used. It returns 0 for a partition beyond the count.
func (p *PartitionIDs) Ahead(part int32, n uint64) anomaly.ID {
	if part < 0 || int(part) >= len(p.seq) {
		return 0
	}
	s := min(p.seq[part].Load()+n, idSeqMask)
	return anomaly.ID(uint64(part+1)<<IDSeqBits | s)
}
