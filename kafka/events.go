package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
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

// EventsOut produces a node's events to the events topic.
type EventsOut struct {
	c     *Consumer
	topic string
}

// NewEventsOut returns the producer of events to topic over c's client.
func NewEventsOut(c *Consumer, topic string) *EventsOut { return &EventsOut{c: c, topic: topic} }

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
	if err := o.c.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("kafka: events: %w", err)
	}
	o.c.m.eventsOut.Add(float64(len(recs)))
	return nil
}
