package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/series"
)

// Ingester is the service's one write path (service.Writer behind the
// maintenance-window gate, as HTTP ingest uses it; the same method as
// api.Ingester). Safe for concurrent use.
type Ingester interface {
	Ingest(ctx context.Context, samples []anomaly.Sample) (anomaly.IngestResult, error)
}

// Config configures a Consumer. Zero fields take the defaults named.
type Config struct {
	// Brokers are the seed brokers, host:port.
	Brokers []string
	// Topic is the points topic; Group the consumer group of the detectors.
	Topic, Group string
	// ChangelogTopic holds the checkpointed baselines; default Topic +
	// "-changelog". Created compacted, with the points topic's partition
	// count, when missing.
	ChangelogTopic string
	// EventsTopic receives the anomaly and peer events ("" : none).
	EventsTopic string
	// EventsGroup is the consumer group that delivers the events topic to
	// the subscribers once per cluster; default Group + "-events".
	EventsGroup string
	// KeyLabels are the labels the record key is made of
	// (cluster.RoutingKey); empty: the whole canonical key.
	KeyLabels []string
	// Format of record values: FormatAuto (default), FormatJSON, FormatLine.
	Format string
	// Precision of line-protocol timestamps; default nanoseconds.
	Precision lineprotocol.Precision
	// Advertise is this node's base URL, published to the group as the
	// client id so that peers can forward queries (Directory).
	Advertise string
	// CheckpointInterval is how often the baselines of the partitions
	// owned are checkpointed and their offsets committed; default 5s. A
	// crash replays at most this much input.
	CheckpointInterval time.Duration
	// MaxPollRecords bounds the records handed to the writer per poll;
	// default 4096.
	MaxPollRecords int
	// SessionTimeout is the group session timeout: how long a dead node
	// keeps its partitions; default 10s.
	SessionTimeout time.Duration
	// Partitions and Replication are used to create the points topic when
	// it is missing (Partitions 0: do not create; fail instead) and the
	// changelog and events topics (Replication 0: the broker default).
	Partitions  int32
	Replication int16
	// DirectoryInterval is how often the group's assignment is read for
	// the Directory; default 1s.
	DirectoryInterval time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) defaults() {
	if c.ChangelogTopic == "" {
		c.ChangelogTopic = c.Topic + "-changelog"
	}
	if c.EventsGroup == "" {
		c.EventsGroup = c.Group + "-events"
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	if c.Precision == 0 {
		c.Precision = lineprotocol.Nanosecond
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 5 * time.Second
	}
	if c.MaxPollRecords <= 0 {
		c.MaxPollRecords = 4096
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.DirectoryInterval <= 0 {
		c.DirectoryInterval = time.Second
	}
	if c.Replication == 0 {
		c.Replication = -1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// partition is what the consumer keeps of one owned points partition.
type partition struct {
	id int32
	// next is the offset after the last record handed to the writer (-1
	// before the first); with no pending points, the engine's state of
	// this partition's series includes exactly the records below next.
	next      int64
	committed int64
	// members are the series consumed from this partition (restored or
	// learned): what a checkpoint may write and a revoke drops.
	members map[string]struct{}
	// dirty are the members that learned a point since their last
	// checkpoint.
	dirty map[string]struct{}
	// skip holds, per restored series, the offset its restored state
	// includes up to: a record below it is already learned (a checkpoint
	// written after the last commit). skipMax is the highest; past it the
	// map is dropped.
	skip    map[string]int64
	skipMax int64
	// pending are points the engine refused as overloaded, to retry
	// before anything newer of this partition; the partition's fetches are
	// paused meanwhile.
	pending     []anomaly.Sample
	pendingKeys []string
	paused      bool
	// idsWritten is the partition's reservation of anomaly ids in the
	// changelog (reserveIDs).
	idsWritten anomaly.ID
}

func newPartition(id int32) *partition {
	return &partition{id: id, next: -1, committed: -1, members: map[string]struct{}{}, dirty: map[string]struct{}{}}
}

// Consumer consumes the points topic as one member of the group: each
// partition it owns is learned through the writer, checkpointed to the
// changelog with the offset it includes, and handed over on a rebalance.
type Consumer struct {
	cfg    Config
	log    *slog.Logger
	eng    *series.Engine
	ing    Ingester
	dec    decoder
	limits series.Limits
	cl     *kgo.Client
	adm    *kadm.Client
	nparts atomic.Int32

	// mu guards parts. The poll loop holds it from a poll to
	// AllowRebalance; the rebalance callbacks run only outside that span
	// (BlockRebalanceOnPoll) and take it too.
	mu    sync.Mutex
	parts map[int32]*partition
	owned atomic.Pointer[[]int32] // sorted partitions owned, for the Directory

	m metrics
	// The points of one poll, queued by process for flush: from[i] is the
	// partition of samples[i].
	samples []anomaly.Sample
	keys    []string
	from    []*partition
	badLog  rateLog

	dir    *Directory
	ids    *cluster.PartitionIDs
	ready  chan struct{} // closed when New returns
	cancel context.CancelFunc
	done   chan struct{}

	// crashTest makes checkpoints stop after the changelog (no commit)
	// and the rebalance callbacks do nothing: a node dying between the two
	// steps, for tests.
	crashTest atomic.Bool
}

// New connects to the brokers, makes sure the topics exist and returns a
// consumer that joins the group on Start. eng is the engine the writer
// feeds (for checkpoints, restores and hand-overs); ing is the writer.
func New(cfg Config, eng *series.Engine, ing Ingester) (*Consumer, error) {
	cfg.defaults()
	if len(cfg.Brokers) == 0 || cfg.Topic == "" || cfg.Group == "" {
		return nil, errors.New("kafka: brokers, topic and group are required")
	}
	c := &Consumer{
		cfg:    cfg,
		log:    cfg.Logger,
		eng:    eng,
		ing:    ing,
		dec:    decoder{format: cfg.Format, precision: cfg.Precision, now: time.Now},
		limits: eng.Limits(),
		parts:  map[int32]*partition{},
		done:   make(chan struct{}),
		ready:  make(chan struct{}),
	}
	c.badLog.every = 10 * time.Second
	if err := c.m.register(cfg.Registerer); err != nil {
		return nil, err
	}
	changelog := cfg.ChangelogTopic
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(cfg.SessionTimeout/10, 100*time.Millisecond)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
		kgo.FetchMaxWait(500 * time.Millisecond),
		// Changelog records go to the partition set on the record (the
		// points partition of the series); events by cluster.Partition of
		// the key, which is Kafka's default partitioner.
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(topic string) func(*kgo.Record, int) int {
			if topic == changelog {
				return func(r *kgo.Record, _ int) int { return int(r.Partition) }
			}
			return func(r *kgo.Record, n int) int { return int(cluster.Partition(r.Key, int32(n))) }
		})),
		kgo.ProducerBatchMaxBytes(4 << 20),
	}
	if cfg.Advertise != "" {
		// The client id is what DescribeGroups shows of each member: the
		// Directory reads the owners' URLs from it.
		opts = append(opts, kgo.ClientID(cfg.Advertise))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	c.cl, c.adm = cl, kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.ensureTopics(ctx); err != nil {
		close(c.ready)
		cl.Close()
		return nil, err
	}
	// Anomaly ids are numbered per partition, so that nodes never hand out
	// the same one and a new owner continues a partition's sequence
	// (cluster.PartitionIDs; the changelog keeps each partition's
	// reservation, see reserveIDs).
	if n := c.nparts.Load(); n > cluster.MaxPartitions {
		close(c.ready)
		cl.Close()
		return nil, fmt.Errorf("kafka: the points topic has %d partitions; anomaly ids number at most %d", n, cluster.MaxPartitions)
	}
	c.dir = newDirectory(c)
	c.ids = cluster.NewPartitionIDs(c.nparts.Load(), cfg.KeyLabels)
	eng.SetIDSpace(c.ids)
	// The group may assign partitions as soon as the client exists: the
	// rebalance callbacks wait until here.
	close(c.ready)
	return c, nil
}

// ensureTopics reads the points topic's partition count (creating the
// topic when Config.Partitions says so) and creates the changelog and
// events topics with as many partitions when they are missing.
func (c *Consumer) ensureTopics(ctx context.Context) error {
	n, err := c.partitionsOf(ctx, c.cfg.Topic)
	if err != nil {
		return err
	}
	if n == 0 {
		if c.cfg.Partitions <= 0 {
			return fmt.Errorf("kafka: topic %q does not exist (create it, or set the partition count to create it)", c.cfg.Topic)
		}
		if err := c.create(ctx, c.cfg.Topic, c.cfg.Partitions, nil); err != nil {
			return err
		}
		n = c.cfg.Partitions
	}
	c.nparts.Store(n)
	compact := "compact"
	for _, t := range []struct {
		name string
		cfg  map[string]*string
	}{{c.cfg.ChangelogTopic, map[string]*string{"cleanup.policy": &compact}}, {c.cfg.EventsTopic, nil}} {
		if t.name == "" {
			continue
		}
		have, err := c.partitionsOf(ctx, t.name)
		if err != nil {
			return err
		}
		switch {
		case have == 0:
			if err := c.create(ctx, t.name, n, t.cfg); err != nil {
				return err
			}
		case t.name == c.cfg.ChangelogTopic && have != n:
			return fmt.Errorf("kafka: changelog topic %q has %d partitions, the points topic %d: they must match", t.name, have, n)
		}
	}
	return nil
}

func (c *Consumer) partitionsOf(ctx context.Context, topic string) (int32, error) {
	td, err := c.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: metadata of %q: %w", topic, err)
	}
	d, ok := td[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return 0, nil
	}
	if d.Err != nil {
		return 0, fmt.Errorf("kafka: metadata of %q: %w", topic, d.Err)
	}
	return int32(len(d.Partitions)), nil
}

func (c *Consumer) create(ctx context.Context, topic string, n int32, cfg map[string]*string) error {
	_, err := c.adm.CreateTopic(ctx, n, c.cfg.Replication, cfg, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("kafka: create topic %q: %w", topic, err)
	}
	c.log.Info("created topic", "topic", topic, "partitions", n)
	return nil
}

// Directory is the cluster.Directory of this consumer's group.
func (c *Consumer) Directory() *Directory { return c.dir }

// Client is the Kafka client (shared by the event producer).
func (c *Consumer) Client() *kgo.Client { return c.cl }

// Start joins the group and consumes in the background until Close.
func (c *Consumer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		c.run(ctx)
	}()
	c.dir.start()
}

// Close stops consuming, checkpoints every partition owned and commits
// its offset, then leaves the group (the partitions move at once, not
// after the session timeout). Call it before the engine closes.
func (c *Consumer) Close(ctx context.Context) error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	c.dir.stop()
	c.mu.Lock()
	err := c.checkpoint(ctx, c.ownedLocked(), true)
	c.mu.Unlock()
	// Leaving the group runs the revoke callback: its checkpoint finds
	// nothing dirty and only drops the series.
	c.cl.AllowRebalance()
	c.cl.Close()
	return err
}

func (c *Consumer) ownedLocked() []int32 {
	ids := make([]int32, 0, len(c.parts))
	for id := range c.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *Consumer) publishOwned() {
	ids := c.ownedLocked()
	c.owned.Store(&ids)
	c.m.owned.Set(float64(len(ids)))
}

// Owned lists the partitions this node owns, sorted.
func (c *Consumer) Owned() []int32 {
	if p := c.owned.Load(); p != nil {
		return *p
	}
	return nil
}

// run is the poll loop.
func (c *Consumer) run(ctx context.Context) {
	lastCheckpoint := time.Now()
	for ctx.Err() == nil {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.anyPending() {
			pctx, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
		}
		fs := c.cl.PollRecords(pctx, c.cfg.MaxPollRecords)
		cancel()
		if fs.IsClientClosed() {
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				c.log.Warn("kafka fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		c.mu.Lock()
		c.retryPending(ctx)
		fs.EachPartition(func(ftp kgo.FetchTopicPartition) {
			if len(ftp.Records) == 0 {
				return
			}
			ps := c.parts[ftp.Partition]
			if ps == nil {
				// Not assigned to us (cannot happen with rebalances blocked
				// during processing): another node learns these.
				c.log.Warn("records of a partition not owned", "partition", ftp.Partition, "records", len(ftp.Records))
				return
			}
			c.process(ps, ftp.Records)
		})
		c.flush(ctx)
		if time.Since(lastCheckpoint) >= c.cfg.CheckpointInterval {
			if err := c.checkpoint(ctx, c.ownedLocked(), false); err != nil && ctx.Err() == nil {
				c.log.Warn("checkpoint failed; retried at the next interval", "err", err)
			}
			lastCheckpoint = time.Now()
		}
		c.mu.Unlock()
		c.cl.AllowRebalance()
	}
}

func (c *Consumer) anyPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ps := range c.parts {
		if len(ps.pending) > 0 {
			return true
		}
	}
	return false
}

// process decodes records (all of partition ps, in offset order) and
// queues their points for the poll's one writer call (flush), or behind
// ps's pending points. Call with mu held.
func (c *Consumer) process(ps *partition, recs []*kgo.Record) {
	samples, keys := c.samples, c.keys
	n0 := len(samples)
	for _, r := range recs {
		if r.Offset < ps.next {
			continue // delivered twice by the client: already handed over
		}
		ps.next = r.Offset + 1
		c.m.records.Inc()
		n := len(samples)
		var err error
		samples, err = c.dec.decode(samples, r.Value)
		if err != nil {
			c.bad(r, err)
			continue
		}
		j := n
		for i := n; i < len(samples); i++ {
			k, err := series.Parse(samples[i].Series, c.limits)
			if err != nil {
				c.bad(r, err)
				continue
			}
			key := k.Canonical()
			if ps.skip != nil {
				if through, ok := ps.skip[key]; ok && r.Offset < through {
					c.m.skipped.Inc()
					continue
				}
			}
			samples[j] = samples[i]
			keys = append(keys, key)
			j++
		}
		samples = samples[:j]
	}
	if ps.skip != nil && ps.next >= ps.skipMax {
		ps.skip = nil // every restored state is behind us
	}
	if len(ps.pending) > 0 {
		// Order within the partition: behind what waits already.
		ps.pending = append(ps.pending, samples[n0:]...)
		ps.pendingKeys = append(ps.pendingKeys, keys[n0:]...)
		samples, keys = samples[:n0], keys[:n0]
	}
	for range len(samples) - len(c.from) {
		c.from = append(c.from, ps)
	}
	c.samples, c.keys = samples, keys
}

// flush hands the points process queued to the writer in one call.
func (c *Consumer) flush(ctx context.Context) {
	if len(c.samples) > 0 {
		c.ingest(ctx, c.samples, c.keys, c.from)
	}
	clear(c.from)
	c.samples, c.keys, c.from = c.samples[:0], c.keys[:0], c.from[:0]
}

// ingest hands samples to the writer; from[i] is the partition of sample
// i. The ones refused as overloaded become their partition's pending
// points, and that partition's fetches pause.
func (c *Consumer) ingest(ctx context.Context, samples []anomaly.Sample, keys []string, from []*partition) {
	if len(samples) == 0 {
		return
	}
	// Not cancelled by shutdown: an ingest whose context ends returns
	// while the engine still applies the points, and they would be
	// retried (learned twice). The engine drains only after Close.
	res, err := c.ing.Ingest(context.WithoutCancel(ctx), samples)
	if err != nil {
		// Overloaded as a whole, or the engine shut down: nothing was
		// learned; keep them all to retry.
		for i := range samples {
			c.hold(from[i], samples[i], keys[i])
		}
		if !isOverloaded(err) && ctx.Err() == nil {
			c.log.Warn("writer refused a batch; retrying", "err", err)
		}
		return
	}
	var rejected map[int]bool
	if len(res.Errors) > 0 {
		rejected = make(map[int]bool, len(res.Errors))
	}
	for _, e := range res.Errors {
		rejected[e.Index] = true
		if e.Code == anomaly.CodeOverloaded {
			continue
		}
		c.m.badPoints.Inc()
		if c.badLog.allow() {
			c.log.Warn("point refused", "partition", from[e.Index].id, "series", clipS(samples[e.Index].Series), "code", e.Code, "err", e.Message)
		}
	}
	learned := 0
	for i, k := range keys {
		ps := from[i]
		if rejected[i] {
			continue
		}
		learned++
		if _, ok := ps.members[k]; !ok {
			ps.members[k] = struct{}{}
		}
		ps.dirty[k] = struct{}{}
	}
	c.m.learned.Add(float64(learned))
	for _, e := range res.Errors {
		// In index order, so in offset order within a partition.
		if e.Code == anomaly.CodeOverloaded {
			c.hold(from[e.Index], samples[e.Index], keys[e.Index])
		}
	}
}

// hold keeps a sample as ps's pending point and pauses ps's fetches.
func (c *Consumer) hold(ps *partition, s anomaly.Sample, key string) {
	ps.pending = append(ps.pending, s)
	ps.pendingKeys = append(ps.pendingKeys, key)
	if !ps.paused {
		ps.paused = true
		c.cl.PauseFetchPartitions(map[string][]int32{c.cfg.Topic: {ps.id}})
		c.m.pauses.Inc()
		c.m.paused.Inc()
		c.log.Info("partition paused: the engine is overloaded", "partition", ps.id)
	}
}

// retryPending hands the pending points of every partition to the writer
// again; a partition whose points all went in resumes fetching. Call with
// mu held.
func (c *Consumer) retryPending(ctx context.Context) {
	for _, ps := range c.parts {
		if len(ps.pending) == 0 {
			continue
		}
		samples, keys := ps.pending, ps.pendingKeys
		ps.pending, ps.pendingKeys = nil, nil
		from := make([]*partition, len(samples))
		for i := range from {
			from[i] = ps
		}
		c.ingest(ctx, samples, keys, from)
		if len(ps.pending) == 0 && ps.paused {
			ps.paused = false
			c.cl.ResumeFetchPartitions(map[string][]int32{c.cfg.Topic: {ps.id}})
			c.m.paused.Dec()
		}
	}
}

func isOverloaded(err error) bool {
	var ae *anomaly.Error
	return errors.As(err, &ae) && ae.Code == anomaly.CodeOverloaded
}

func (c *Consumer) bad(r *kgo.Record, err error) {
	c.m.badRecords.Inc()
	if c.badLog.allow() {
		c.log.Warn("bad record skipped", "partition", r.Partition, "offset", r.Offset, "key", clip(r.Key), "err", err)
	}
}

// checkpoint writes the dirty series of the partitions ids to the
// changelog, each with the offset its state includes up to, and, once the
// brokers acknowledged them, commits those offsets. A partition with
// pending points is left for later (its state is not a cut of its input)
// unless final, which first retries the pending points for a while. Call
// with mu held.
func (c *Consumer) checkpoint(ctx context.Context, ids []int32, final bool) error {
	start := time.Now()
	if final {
		deadline := time.Now().Add(10 * time.Second)
		for c.pendingOf(ids) && time.Now().Before(deadline) && ctx.Err() == nil {
			c.retryPending(ctx)
			if c.pendingOf(ids) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	var recs []*kgo.Record
	commit := map[int32]kgo.EpochOffset{}
	cut := map[int32]*partition{}
	for _, id := range ids {
		ps := c.parts[id]
		if ps == nil || len(ps.pending) > 0 || ps.next < 0 {
			continue
		}
		cut[id] = ps
		if ps.next > ps.committed {
			commit[id] = kgo.EpochOffset{Epoch: -1, Offset: ps.next}
		}
	}
	written := 0
	for _, ps := range cut {
		if len(ps.dirty) == 0 {
			continue
		}
		seen := make(map[string]struct{}, len(ps.dirty))
		_, err := c.eng.ExportMatching(ctx, func(k string) bool { _, ok := ps.dirty[k]; return ok }, func(states []series.SeriesState) error {
			for i := range states {
				s := &states[i]
				seen[s.Key] = struct{}{}
				recs = append(recs, &kgo.Record{Topic: c.cfg.ChangelogTopic, Partition: ps.id, Key: []byte(s.Key), Value: appendState(nil, s, ps.next)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		for k := range ps.dirty {
			if _, ok := seen[k]; !ok {
				// Evicted since: a tombstone, so that a restore does not
				// bring back an older state.
				recs = append(recs, &kgo.Record{Topic: c.cfg.ChangelogTopic, Partition: ps.id, Key: []byte(k)})
				delete(ps.members, k)
			}
		}
		written += len(ps.dirty)
	}
	for _, ps := range cut {
		// Extend the partition's reservation of anomaly ids once half of it
		// is used (see reserveIDs).
		if c.ids.Ahead(ps.id, idBlock/2) > ps.idsWritten {
			r := c.ids.Ahead(ps.id, idBlock)
			recs = append(recs, &kgo.Record{Topic: c.cfg.ChangelogTopic, Partition: ps.id, Key: []byte(idsKey), Value: appendIDs(nil, r)})
			ps.idsWritten = r
		}
	}
	if len(recs) > 0 {
		if err := c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("kafka: changelog: %w", err)
		}
	}
	for _, ps := range cut {
		clear(ps.dirty)
	}
	if len(commit) > 0 && !c.crashTest.Load() {
		var cerr error
		c.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{c.cfg.Topic: commit},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					cerr = err
					return
				}
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if e := kerr.ErrorForCode(p.ErrorCode); e != nil && cerr == nil {
							cerr = e
						}
					}
				}
			})
		if cerr != nil {
			return fmt.Errorf("kafka: commit: %w", cerr)
		}
		for id, eo := range commit {
			cut[id].committed = eo.Offset
		}
	}
	c.m.checkpoints.Inc()
	c.m.checkpointSeries.Add(float64(written))
	c.m.checkpointSeconds.Observe(time.Since(start).Seconds())
	return nil
}

func (c *Consumer) pendingOf(ids []int32) bool {
	for _, id := range ids {
		if ps := c.parts[id]; ps != nil && len(ps.pending) > 0 {
			return true
		}
	}
	return false
}

// assigned restores the new partitions' state from the changelog before
// their fetches start (kgo calls it before fetching them).
func (c *Consumer) assigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	if <-c.ready; c.ids == nil {
		return // New failed
	}
	ids := m[c.cfg.Topic]
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var fresh []int32
	for _, id := range ids {
		if c.parts[id] == nil {
			c.parts[id] = newPartition(id)
			fresh = append(fresh, id)
		}
	}
	start := time.Now()
	n, err := c.restore(ctx, fresh)
	if err != nil {
		// Without its state the partition would relearn from the committed
		// offset on a blank baseline: better to leave the group and retry.
		c.log.Error("restoring partitions from the changelog failed", "partitions", fresh, "err", err)
	}
	if err := c.reserveIDs(ctx, fresh); err != nil {
		c.log.Error("reserving anomaly ids in the changelog failed", "partitions", fresh, "err", err)
	}
	c.publishOwned()
	c.log.Info("partitions assigned", "partitions", fresh, "restored_series", n, "took", time.Since(start).Round(time.Millisecond))
}

// revoked checkpoints the partitions leaving, commits their offsets and
// drops their series from the engine.
func (c *Consumer) revoked(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	if <-c.ready; c.ids == nil {
		return // New failed
	}
	ids := m[c.cfg.Topic]
	if len(ids) == 0 || c.crashTest.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := c.checkpoint(cctx, ids, true); err != nil {
		c.log.Error("checkpoint of revoked partitions failed: their new owner replays from the last commit", "partitions", ids, "err", err)
	}
	n := c.drop(ids)
	c.publishOwned()
	c.log.Info("partitions revoked", "partitions", ids, "dropped_series", n)
}

// lost drops the partitions without a checkpoint: the group gave them to
// another node already, which replays from the last commit.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	if <-c.ready; c.ids == nil {
		return // New failed
	}
	ids := m[c.cfg.Topic]
	if len(ids) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.drop(ids)
	c.publishOwned()
	c.log.Warn("partitions lost", "partitions", ids, "dropped_series", n)
}

// drop removes the partitions ids and their series. Call with mu held.
func (c *Consumer) drop(ids []int32) int {
	gone := map[string]struct{}{}
	var resume []int32
	for _, id := range ids {
		ps := c.parts[id]
		if ps == nil {
			continue
		}
		for k := range ps.members {
			gone[k] = struct{}{}
		}
		if ps.paused {
			resume = append(resume, id)
			c.m.paused.Dec()
		}
		delete(c.parts, id)
	}
	if len(resume) > 0 {
		c.cl.ResumeFetchPartitions(map[string][]int32{c.cfg.Topic: resume})
	}
	if len(gone) == 0 {
		return 0
	}
	return c.eng.Drop(func(k string) bool { _, ok := gone[k]; return ok })
}

// restore reads the changelog partitions ids to their end and imports the
// last state of each series. Call with mu held.
func (c *Consumer) restore(ctx context.Context, ids []int32) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	topic := c.cfg.ChangelogTopic
	var ends, starts kadm.ListedOffsets
	// A changelog created a moment ago may not be in every broker's
	// metadata yet: retry for a while.
	for attempt := 0; ; attempt++ {
		var err error
		if ends, err = c.adm.ListEndOffsets(ctx, topic); err == nil {
			starts, err = c.adm.ListStartOffsets(ctx, topic)
		}
		if err == nil {
			for _, id := range ids {
				e, ok := ends.Lookup(topic, id)
				if !ok || e.Err != nil {
					err = fmt.Errorf("end offset of %s/%d unknown (%v)", topic, id, e.Err)
					break
				}
			}
		}
		if err == nil {
			break
		}
		if attempt == 50 || ctx.Err() != nil {
			return 0, err
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	for _, id := range ids {
		e, _ := ends.Lookup(topic, id)
		s, _ := starts.Lookup(topic, id)
		if e.Offset > s.Offset {
			want[id] = e.Offset
			from[id] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	latest := map[int32]map[string][]byte{}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for len(want) > 0 {
		fs := rc.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return 0, fmt.Errorf("reading the changelog: %w (partitions left %v)", err, want)
		}
		// Fetch errors (a leader moving) are retried by the client; they
		// are logged, and the read goes on until the deadline.
		fs.EachError(func(t string, p int32, err error) {
			c.log.Warn("changelog fetch error; retrying", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			m := latest[r.Partition]
			if m == nil {
				m = map[string][]byte{}
				latest[r.Partition] = m
			}
			if r.Value == nil {
				delete(m, string(r.Key))
			} else {
				m[string(r.Key)] = r.Value
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	total := 0
	for id, m := range latest {
		ps := c.parts[id]
		states := make([]series.SeriesState, 0, len(m))
		throughs := make([]int64, 0, len(m))
		for k, v := range m {
			if k == idsKey {
				if last, err := decodeIDs(v); err == nil {
					c.ids.Reserve(last)
					ps.idsWritten = last
				} else {
					c.m.badRecords.Inc()
					c.log.Warn("bad changelog record skipped", "partition", id, "err", err)
				}
				continue
			}
			var s series.SeriesState
			through, err := decodeState(v, &s)
			if err != nil {
				c.m.badRecords.Inc()
				c.log.Warn("bad changelog record skipped", "partition", id, "series", clipS(k), "err", err)
				continue
			}
			s.Key = k
			states = append(states, s)
			throughs = append(throughs, through)
		}
		// Series held already (another partition's, an HTTP write, or a
		// local snapshot) are replaced by the checkpoint.
		st, err := c.eng.Import(states)
		if err != nil {
			return total, err
		}
		if st.Dropped > 0 {
			c.log.Warn("restored series dropped by the engine", "partition", id, "dropped", st.Dropped)
		}
		ps.skip = make(map[string]int64, len(states))
		for i := range states {
			ps.members[states[i].Key] = struct{}{}
			ps.skip[states[i].Key] = throughs[i]
			ps.skipMax = max(ps.skipMax, throughs[i])
		}
		total += len(states)
		c.m.restored.Add(float64(len(states)))
	}
	return total, nil
}

// idBlock is how many anomaly ids of a partition an owner reserves ahead.
const idBlock = 1 << 20

// reserveIDs records in the changelog, before the partitions ids are
// fetched, that their owner may hand out anomaly ids up to idBlock past
// the last restored: a successor (after a SIGKILL too) continues past the
// reservation, so it never hands out an id this owner may have given to
// another anomaly, whatever the order the engine's shards opened
// anomalies in. Checkpoints extend the reservation. Call with mu held.
func (c *Consumer) reserveIDs(ctx context.Context, ids []int32) error {
	var recs []*kgo.Record
	for _, id := range ids {
		ps := c.parts[id]
		if ps == nil {
			continue
		}
		r := c.ids.Ahead(id, idBlock)
		recs = append(recs, &kgo.Record{Topic: c.cfg.ChangelogTopic, Partition: id, Key: []byte(idsKey), Value: appendIDs(nil, r)})
		ps.idsWritten = r
	}
	if len(recs) == 0 {
		return nil
	}
	return c.cl.ProduceSync(ctx, recs...).FirstErr()
}

// Partitions is the partition count of the points topic.
func (c *Consumer) Partitions() int32 { return c.nparts.Load() }

func clipS(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// rateLog lets one log line through per interval.
type rateLog struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (r *rateLog) allow() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.last) >= r.every {
		r.last = now
		return true
	}
	return false
}
