package kafka_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/cluster"
	"github.com/anomalyd/detector/kafka"
	"github.com/anomalyd/detector/series"
)

// checkAnomalyIDs reads every opening on the events topic (the events of
// every node that ever ran, replays included) and checks the anomaly ids:
// two anomalies (event identities) never share one, and an id carries the
// partition of its series. (A replay after a SIGKILL reopens an anomaly
// with a new id, past the dead owner's reservation.) Then every node is asked for every id: the nodes agree (each
// forwards to the owner of the id's partition) and an answer found is the
// anomaly of that series. It returns how many ids were answered 200.
func checkAnomalyIDs(t *testing.T, brokers []string, topic string, nodes []*node) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	nparts := int32(0)
	left := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		nparts++
		if o.Offset > 0 {
			left[o.Partition] = o.Offset
		}
	})
	reopened := 0
	idOf := map[string]anomaly.ID{}      // event identity -> id
	anomalyOf := map[anomaly.ID]string{} // id -> event identity
	seriesOf := map[anomaly.ID]string{}
	for len(left) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v (left %v)", topic, ctx.Err(), left)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := left[r.Partition]; ok && r.Offset+1 >= end {
				delete(left, r.Partition)
			}
			var ev anomaly.Event
			if json.Unmarshal(r.Value, &ev) != nil || ev.Kind != anomaly.EventOpened || ev.AnomalyKind != anomaly.KindPoint {
				return
			}
			ident := kafka.EventID(&ev)
			if id, ok := idOf[ident]; ok && id != ev.AnomalyID {
				reopened++ // replayed by a new owner, past the old one's ids
			}
			if other, ok := anomalyOf[ev.AnomalyID]; ok && other != ident {
				t.Errorf("anomaly id %d given to %s and to %s", ev.AnomalyID, other, ident)
			}
			idOf[ident], anomalyOf[ev.AnomalyID], seriesOf[ev.AnomalyID] = ev.AnomalyID, ident, ev.Series
			key, err := cluster.SeriesKey(ev.Series, nil, series.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := cluster.Partition([]byte(key), nparts)
			if p, ok := cluster.IDPartition(ev.AnomalyID); !ok || p != want {
				t.Errorf("anomaly %d of %s (partition %d) carries partition %d %v", ev.AnomalyID, ev.Series, want, p, ok)
			}
		})
	}
	if len(anomalyOf) == 0 {
		t.Error("no anomaly opened on the events topic: the id checks are void")
	}
	answered := 0
	for id, s := range seriesOf {
		statuses := map[int]bool{}
		for _, n := range nodes {
			resp, err := httpc.Get(fmt.Sprintf("%s/api/v1/anomalies/%d", n.Base, id))
			if err != nil {
				t.Fatalf("GET anomaly %d on %s: %v", id, n.name, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			statuses[resp.StatusCode] = true
			switch resp.StatusCode {
			case http.StatusOK:
				var an anomaly.Anomaly
				if err := json.Unmarshal(body, &an); err != nil || an.ID != id || an.Series != s {
					t.Errorf("GET anomaly %d on %s: %s, want the anomaly of %s", id, n.name, body, s)
				}
			case http.StatusNotFound:
				// The owner's timeline does not hold it: the anomaly was
				// recorded by a node since restarted (its timeline in
				// memory), or by an earlier owner of the partition.
			default:
				t.Errorf("GET anomaly %d on %s: %d %s", id, n.name, resp.StatusCode, strings.TrimSpace(string(body)))
			}
		}
		if len(statuses) != 1 {
			t.Errorf("nodes disagree on anomaly %d: statuses %v", id, statuses)
		}
		if statuses[http.StatusOK] {
			answered++
		}
	}
	t.Logf("%d anomaly ids on the events topic (%d replayed openings with a new id), %d answered by every node", len(anomalyOf), reopened, answered)
	return answered
}
