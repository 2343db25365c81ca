package kafka

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
)

// A replayed event (same series, kinds and point, another anomaly id, as
// after a failover) is handed to the subscribers once.
func TestEventsInDropsReplays(t *testing.T) {
	var got []anomaly.Event
	e := &EventsIn{m: &metrics{}, sink: func(ev anomaly.Event) { got = append(got, ev) }, seen: map[int32]*window{}, log: func(string, ...any) {}}
	if err := e.m.register(nil); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 0).UTC()
	rec := func(id anomaly.ID, kind anomaly.EventKind, ts time.Time, header bool) *kgo.Record {
		ev := anomaly.Event{Kind: kind, AnomalyID: id, AnomalyKind: anomaly.KindPoint, Series: `cpu{host="a"}`, At: ts, Verdict: anomaly.Verdict{Timestamp: ts}}
		v, _ := json.Marshal(ev)
		r := &kgo.Record{Value: v}
		if header {
			r.Headers = []kgo.RecordHeader{{Key: HeaderEventID, Value: []byte(EventID(&ev))}}
		}
		return r
	}
	e.handle(rec(7, anomaly.EventOpened, at, true))
	e.handle(rec(9, anomaly.EventOpened, at, true))                   // the replay: another id
	e.handle(rec(9, anomaly.EventOpened, at, false))                  // no header: identity computed
	e.handle(rec(7, anomaly.EventUpdated, at.Add(time.Minute), true)) // another event
	e.handle(&kgo.Record{Value: []byte("{bad")})
	if len(got) != 2 || got[0].Kind != anomaly.EventOpened || got[1].Kind != anomaly.EventUpdated {
		t.Fatalf("handed over %+v, want the opening once and the update", got)
	}
	w := &window{ids: map[string]struct{}{}}
	for i := range DedupeWindow + 10 {
		if !w.add(string(rune(i))) {
			t.Fatalf("id %d seen twice", i)
		}
	}
	if !w.add(string(rune(0))) || w.add(string(rune(DedupeWindow+5))) {
		t.Error("the window keeps the newest ids only")
	}
}
