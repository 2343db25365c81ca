package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/notify"
)

// BenchmarkIngestSubscribers is the write path (engine, peers, the event
// fan-in, the learning gate) ingesting batches of 1,000 points over 100
// learned series, one point in 50 a spike that opens or updates an anomaly,
// with 0 and 10 webhook subscribers delivering every event to a local
// receiver meanwhile. The difference is what notifications add to ingest.
func BenchmarkIngestSubscribers(b *testing.B) {
	for _, subs := range []int{0, 10} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			m, err := NewMain(Config{Listen: "127.0.0.1:0", AllowDestinations: []string{"127.0.0.1"}},
				slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Start(); err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			for i := 0; i < subs; i++ {
				u := srv.URL
				if _, err := m.hub.AddWebhook(b.Context(), notify.WebhookSpec{URL: &u}); err != nil {
					b.Fatal(err)
				}
			}
			ing := learningGate{Engine: m.svc.API(), filter: m.hub}
			const nSeries, warm = 100, 600
			ts := int64(1_700_000_000_000)
			batch := make([]anomaly.Sample, 0, 1000)
			step := 0
			fill := func(spikes bool) {
				batch = batch[:0]
				for len(batch) < cap(batch) {
					v := 100 + float64(step%5)
					if spikes && (step/nSeries+step%nSeries)%50 == 0 { // each series: one point in 50
						v = 1000
					}
					batch = append(batch, anomaly.Sample{Series: fmt.Sprintf(`req{pod="p%d"}`, step%nSeries), TimestampMs: ts, Value: v})
					step++
					if step%nSeries == 0 {
						ts += 60_000
					}
				}
			}
			for i := 0; i < warm*nSeries/cap(batch); i++ {
				fill(false)
				if _, err := ing.Ingest(b.Context(), batch); err != nil {
					b.Fatal(err)
				}
			}
			before := m.svc.Events().Last()
			b.ReportAllocs()
			b.ResetTimer()
			events := 0
			for i := 0; i < b.N; i++ {
				fill(true)
				res, err := ing.Ingest(b.Context(), batch)
				if err != nil {
					b.Fatal(err)
				}
				events += len(res.Anomalies)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*cap(batch))/b.Elapsed().Seconds(), "points/s")
			b.ReportMetric(float64(events)/float64(b.N), "anomalous/batch")
			b.ReportMetric(float64(m.svc.Events().Last()-before)/float64(b.N), "events/batch")
		})
	}
}
