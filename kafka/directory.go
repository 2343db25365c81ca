package kafka

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/anomalyd/detector/cluster"
)

// Directory is the cluster.Directory of the detectors' consumer group.
//
// How a node's URL travels: each detector sets its Kafka client id to its
// advertised base URL (--kafka-advertise), and the Directory reads the
// group with DescribeGroups (kadm) every DirectoryInterval: the group
// coordinator's answer lists every member with its client id and the
// partitions the group leader assigned it. This was chosen over a members
// topic because the coordinator is the authority on the assignment: there
// is no second record to keep in step with it, nothing stale to expire
// after a SIGKILL (a dead member leaves the description when its session
// times out, the same moment its partitions move), and no extra topic to
// create. The cost is one DescribeGroups request a second per node.
//
// This node's own partitions come from its consumer at once (the
// rebalance callbacks), so a node never forwards a query for a partition
// it owns; other nodes' partitions are at most one interval old, and
// unknown (Owner's ok false) while the group is rebalancing.
type Directory struct {
	c *Consumer

	mu      sync.RWMutex
	owners  map[int32]string
	members []string

	cancel context.CancelFunc
	done   chan struct{}
}

var _ cluster.Directory = (*Directory)(nil)

func newDirectory(c *Consumer) *Directory {
	return &Directory{c: c, owners: map[int32]string{}}
}

func (d *Directory) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel, d.done = cancel, make(chan struct{})
	go func() {
		defer close(d.done)
		t := time.NewTicker(d.c.cfg.DirectoryInterval)
		defer t.Stop()
		for {
			d.refresh(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (d *Directory) stop() {
	if d.cancel != nil {
		d.cancel()
		<-d.done
	}
}

// refresh reads the group's members and assignment.
func (d *Directory) refresh(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	gs, err := d.c.adm.DescribeGroups(rctx, d.c.cfg.Group)
	if err != nil {
		return
	}
	g, ok := gs[d.c.cfg.Group]
	if !ok || g.Err != nil {
		return
	}
	owners := map[int32]string{}
	var members []string
	for _, m := range g.Members {
		if m.ClientID != "" && !slices.Contains(members, m.ClientID) {
			members = append(members, m.ClientID)
		}
		if g.State != "Stable" {
			continue
		}
		a, ok := m.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range a.Topics {
			if t.Topic != d.c.cfg.Topic {
				continue
			}
			for _, p := range t.Partitions {
				owners[p] = m.ClientID
			}
		}
	}
	slices.Sort(members)
	d.mu.Lock()
	d.owners, d.members = owners, members
	d.mu.Unlock()
}

// Self is this node's advertised base URL.
func (d *Directory) Self() string { return d.c.cfg.Advertise }

// Partitions is the partition count of the points topic.
func (d *Directory) Partitions() int32 { return d.c.Partitions() }

// Owner is the advertised URL of the node that owns partition p.
func (d *Directory) Owner(p int32) (string, bool) {
	if _, ok := slices.BinarySearch(d.c.Owned(), p); ok {
		return d.Self(), true
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := d.owners[p]
	if !ok || u == "" || u == d.Self() {
		// Our own stale entry: we gave it up since the last refresh.
		return "", false
	}
	return u, true
}

// Members lists the advertised URLs of the group's members, sorted,
// this node included.
func (d *Directory) Members() []string {
	d.mu.RLock()
	ms := slices.Clone(d.members)
	d.mu.RUnlock()
	if self := d.Self(); self != "" && !slices.Contains(ms, self) {
		ms = append(ms, self)
		slices.Sort(ms)
	}
	return ms
}
