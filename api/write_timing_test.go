package api

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// The write routes end to end in process (body read, decode, timestamp
// checks, answer) with an ingester that accepts everything, so the figures
// are the cost of the wire format, not of the model.
func benchRoute(b *testing.B, path, ctype string, body []byte, points int) {
	a, err := New(Config{MaxPoints: 1 << 20, MaxFuture: time.Hour}, Deps{Ingest: discard{}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		w := httptest.NewRecorder()
		a.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(testing.AllocsPerRun(5, func() {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		a.ServeHTTP(httptest.NewRecorder(), req)
	}))/float64(points), "allocs/point")
}

func BenchmarkRemoteWriteRoute(b *testing.B) {
	const n = 5000
	ts := time.Now().UnixMilli()
	req := &prompb.WriteRequest{}
	for i := range n {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{{Name: "__name__", Value: "http_requests_total"}, {Name: "code", Value: "200"},
				{Name: "instance", Value: fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)}, {Name: "job", Value: "api"}, {Name: "method", Value: "GET"}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: ts}},
		})
	}
	raw, _ := req.Marshal()
	benchRoute(b, "/api/v1/write", "application/x-protobuf", snappy.Encode(nil, raw), n)
}

func BenchmarkLineProtocolRoute(b *testing.B) {
	const n = 1250 // lines of 4 fields: 5000 points
	var sb strings.Builder
	sec := time.Now().Unix()
	for i := range n {
		fmt.Fprintf(&sb, "cpu,cpu=cpu%d,host=web-%d,region=eu-west usage_user=%d.5,usage_system=1.25,usage_idle=90i,usage_iowait=0.1 %d\n", i%8, i%100, i%100, sec)
	}
	benchRoute(b, "/api/v2/write?bucket=telegraf&precision=s", "text/plain", []byte(sb.String()), 4*n)
}
