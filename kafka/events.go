package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/eventlog"
)

// Events on Kafka.
//
// Out: every node runs one subscriber of its own event log (EventsOut)
// that produces each event to the events topic, keyed by series, the
// event's JSON as the value and its identity in the "event-id" header.
// The subscriber's cursor moves past a batch only once the brokers
// acknowledged it, so every event reaches the topic at least once.
//
// At-least-once, and the duplicates a failover makes: a node that dies
// after learning points it had not checkpointed has its partitions
// replayed by their new owner from the last committed offset, on the
// state of the last checkpoint; the model is deterministic, so the replay
// opens, updates and resolves the same anomalies at the same points
// again, and those events reach the topic a second time. A crash between
// a produce and the cursor's save repeats events too. The identity of an
// event is therefore what the replay reproduces: series, anomaly kind,
// event kind and the timestamp of the point that caused it (EventID), not
// the anomaly id (a counter of the node, which differs on the new owner).
// A consumer of the topic drops an event whose identity it has seen
// (EventsIn keeps a window of recent identities per partition).

// HeaderEventID is the record header holding the event identity.
const HeaderEventID = "event-id"

// EventID is the identity of an event that a replay of the same points
// reproduces: series, anomaly kind, event kind and the point's timestamp
// in Unix milliseconds.
func EventID(ev *anomaly.Event) string {
	ts := ev.Verdict.Timestamp
	if ts.IsZero() {
		ts = ev.At
	}
	return ev.Series + "|" + ev.AnomalyKind + "|" + string(ev.Kind) + "|" + strconv.FormatInt(ts.UnixMilli(), 10)
}

// EventsOut produces a node's events to the events topic, over its own
// client: it outlives the group consumer at shutdown, to produce the
// events of the last points.
type EventsOut struct {
	c     *Consumer
	cl    *kgo.Client
	topic string
	last  atomic.Uint64 // Seq of the last event acknowledged
}

// NewEventsOut returns the producer of events to c's events topic.
func NewEventsOut(c *Consumer) (*EventsOut, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.RecordPartitioner(kgo.BasicConsistentPartitioner(func(string) func(*kgo.Record, int) int {
			return func(r *kgo.Record, n int) int { return int(cluster.Partition(r.Key, int32(n))) }
		})))
	if err != nil {
		return nil, fmt.Errorf("kafka: events producer: %w", err)
	}
	return &EventsOut{c: c, cl: cl, topic: c.cfg.EventsTopic}, nil
}

// Wait waits until the event seq is produced, or d passed; it reports
// whether it was.
func (o *EventsOut) Wait(seq uint64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for o.last.Load() < seq {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// Close closes the producer.
func (o *EventsOut) Close() { o.cl.Close() }

// EventsRunOptions are the event-log subscription options of EventsOut.
func EventsRunOptions() eventlog.RunOptions {
	return eventlog.RunOptions{Batch: 1024, RetryDelay: 500 * time.Millisecond}
}

// Handle is the eventlog.Handler: it produces the batch and returns once
// every record is acknowledged (an error leaves the cursor, and the batch
// is offered again).
func (o *EventsOut) Handle(ctx context.Context, batch []eventlog.Entry) error {
	recs := make([]*kgo.Record, 0, len(batch))
	for i := range batch {
		ev := &batch[i].Event
		val, err := json.Marshal(ev)
		if err != nil {
			continue // cannot happen: events are finite
		}
		recs = append(recs, &kgo.Record{
			Topic:   o.topic,
			Key:     []byte(ev.Series),
			Value:   val,
			Headers: []kgo.RecordHeader{{Key: HeaderEventID, Value: []byte(EventID(ev))}},
		})
	}
	if err := o.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("kafka: events: %w", err)
	}
	o.c.m.eventsOut.Add(float64(len(recs)))
	if len(batch) > 0 {
		o.last.Store(batch[len(batch)-1].Seq)
	}
	return nil
}

// EventsIn consumes the events topic as a member of the events group, so
// that every event is handed to the subscribers (webhooks, Alertmanager,
// remediation) by one node of the cluster, the one owning the event's
// partition, instead of by every node. Events whose identity (EventID)
// was seen recently on their partition are dropped: the duplicates a
// failover replay or a producer retry makes. The window is in memory: a
// duplicate that arrives after the partition moved to another node, or
// more than DedupeWindow events later, is delivered twice (at-least-once).
//
// Offsets are committed once handed over (every CommitInterval): an event
// is at the subscriber's log before its offset is committed, and the
// subscribers' own cursors carry delivery from there.
type EventsIn struct {
	cfg    Config
	cl     *kgo.Client
	m      *metrics
	log    func(msg string, args ...any)
	sink   func(anomaly.Event)
	seen   map[int32]*window
	cancel context.CancelFunc
	done   chan struct{}
}

// DedupeWindow is the number of recent event identities kept per
// partition of the events topic.
const DedupeWindow = 1 << 14

type window struct {
	ids  map[string]struct{}
	ring []string
	next int
}

func (w *window) add(id string) bool {
	if _, ok := w.ids[id]; ok {
		return false
	}
	if len(w.ring) < DedupeWindow {
		w.ring = append(w.ring, id)
	} else {
		delete(w.ids, w.ring[w.next])
		w.ring[w.next] = id
		w.next = (w.next + 1) % DedupeWindow
	}
	w.ids[id] = struct{}{}
	return true
}

// NewEventsIn joins the events group of c's configuration; sink gets each
// event once (in partition order) and must not block long.
func NewEventsIn(c *Consumer, sink func(anomaly.Event)) (*EventsIn, error) {
	e := &EventsIn{cfg: c.cfg, m: &c.m, sink: sink, seen: map[int32]*window{}, done: make(chan struct{})}
	e.log = c.log.With("events_group", c.cfg.EventsGroup).Warn
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.cfg.Brokers...),
		kgo.ConsumerGroup(c.cfg.EventsGroup),
		kgo.ConsumeTopics(c.cfg.EventsTopic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(c.cfg.SessionTimeout),
		kgo.HeartbeatInterval(max(c.cfg.SessionTimeout/10, 100*time.Millisecond)),
		// A new group starts at the topic's start: the events of the
		// cluster's first seconds, before the group formed, are delivered.
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsRevoked(e.forget),
		kgo.OnPartitionsLost(e.forget),
	}
	if c.cfg.Advertise != "" {
		opts = append(opts, kgo.ClientID(c.cfg.Advertise))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: events consumer: %w", err)
	}
	e.cl = cl
	return e, nil
}

func (e *EventsIn) forget(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
	// Commit what was handed over before the partitions leave.
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		e.log("commit of the events offsets failed", "err", err)
	}
}

// Start consumes in the background until Close.
func (e *EventsIn) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		for ctx.Err() == nil {
			fs := e.cl.PollFetches(ctx)
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				e.handle(r)
				e.cl.MarkCommitRecords(r)
			})
		}
	}()
}

func (e *EventsIn) handle(r *kgo.Record) {
	var ev anomaly.Event
	if err := json.Unmarshal(r.Value, &ev); err != nil {
		e.m.badRecords.Inc()
		e.log("bad event record skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
		return
	}
	id := ""
	for _, h := range r.Headers {
		if h.Key == HeaderEventID {
			id = string(h.Value)
		}
	}
	if id == "" {
		id = EventID(&ev)
	}
	w := e.seen[r.Partition]
	if w == nil {
		w = &window{ids: map[string]struct{}{}}
		e.seen[r.Partition] = w
	}
	if !w.add(id) {
		e.m.eventsDup.Inc()
		return
	}
	e.m.eventsIn.Inc()
	e.sink(ev)
}

// Close commits what was handed over and leaves the events group.
func (e *EventsIn) Close() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.cl.CommitMarkedOffsets(ctx); err != nil {
		e.log("commit of the events offsets failed", "err", err)
	}
	e.cl.Close()
}
