package notify

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/eventlog"
)

// BenchmarkDeliveryThroughput measures signed deliveries per second from
// the event log to one local receiver (HTTP keep-alive, 204 answers), at
// the default per-endpoint concurrency.
func BenchmarkDeliveryThroughput(b *testing.B) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
	o := fastOptions(log, cur)
	o.Registerer = prometheus.NewRegistry()
	h, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	u := srv.URL
	if _, err := h.AddWebhook(b.Context(), WebhookSpec{URL: &u}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		s := fmt.Sprintf(`lat{pod="p%d"}`, i%64)
		ev := event(anomaly.EventUpdated, anomaly.ID(i%64+1), s, t0.Add(time.Duration(i)*time.Second), 0.999)
		h.Observe(ev)
		log.Append(ev)
	}
	b.ResetTimer()
	start := time.Now()
	h.Start()
	for n.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
		if time.Since(start) > time.Minute {
			b.Fatalf("the receiver got %d of %d events in a minute", n.Load(), b.N)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkObserveAppend is the write path's cost per event (incident
// view, then the log), with 0 and 10 subscribers delivering meanwhile to
// a local receiver.
func BenchmarkObserveAppend(b *testing.B) {
	for _, subs := range []int{0, 10} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			log, cur := eventlog.NewMemory(0, 0), eventlog.NewMemoryCursors()
			o := fastOptions(log, cur)
			h, err := New(o)
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			for i := 0; i < subs; i++ {
				u := srv.URL
				h.AddWebhook(b.Context(), WebhookSpec{URL: &u})
			}
			h.Start()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s := fmt.Sprintf(`lat{pod="p%d"}`, i%64)
				ev := event(anomaly.EventUpdated, anomaly.ID(i%64+1), s, t0.Add(time.Duration(i)*time.Second), 0.999)
				h.Observe(ev)
				log.Append(ev)
			}
		})
	}
}
