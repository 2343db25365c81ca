package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/anomalyd/detector/anomaly"
)

// remoteWriteBody is a Prometheus-like request: n series with 5 labels and
// one sample each (what a scrape sends).
func remoteWriteBody(n int) []byte {
	req := &prompb.WriteRequest{}
	for i := range n {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels: []prompb.Label{{Name: "__name__", Value: "http_requests_total"}, {Name: "code", Value: "200"},
				{Name: "instance", Value: fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256)}, {Name: "job", Value: "api"}, {Name: "method", Value: "GET"}},
			Samples: []prompb.Sample{{Value: float64(i), Timestamp: 1_700_000_000_000}},
		})
	}
	raw, _ := req.Marshal()
	return snappy.Encode(nil, raw)
}

func BenchmarkDecodeRemoteWrite(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprintf("series=%d", n), func(b *testing.B) {
			body := remoteWriteBody(n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var dst []anomaly.Sample
			for b.Loop() {
				var err error
				if dst, _, err = DecodeRemoteWrite(dst[:0], body, RemoteWriteV1, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			perPoint(b, n)
		})
	}
}

// lineBody is a Telegraf-like body: n lines of cpu with 3 tags and 4
// fields.
func lineBody(n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "cpu,cpu=cpu%d,host=web-%d,region=eu-west usage_user=%d.5,usage_system=1.25,usage_idle=90i,usage_iowait=0.1 1700000000%09d\n", i%8, i%100, i%100, i)
	}
	return []byte(sb.String())
}

func BenchmarkDecodeLines(b *testing.B) {
	for _, n := range []int{500, 5000} {
		b.Run(fmt.Sprintf("lines=%d", n), func(b *testing.B) {
			body := lineBody(n)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var dst []anomaly.Sample
			opts := LineOptions{Now: time.Now()}
			for b.Loop() {
				var errs []LineError
				if dst, _, errs = DecodeLines(dst[:0], body, opts); len(errs) > 0 {
					b.Fatal(errs[0])
				}
			}
			perPoint(b, 4*n)
		})
	}
}

// perPoint reports points/s and allocations per point for points decoded
// per iteration.
func perPoint(b *testing.B, points int) {
	b.Helper()
	el := b.Elapsed().Seconds()
	if el > 0 {
		b.ReportMetric(float64(points)*float64(b.N)/el, "points/s")
	}
}
