package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// discardEngine is an Engine whose Ingest takes every point and keeps
// nothing, so that the decode benchmarks measure the HTTP JSON path (body
// read, validation, decoding, answer) and not the model.
type discardEngine struct{ fakeEngine }

func (*discardEngine) Ingest(_ context.Context, s []anomaly.Sample) (anomaly.IngestResult, error) {
	return anomaly.IngestResult{Accepted: len(s), Errors: []anomaly.ItemError{}, Anomalies: []anomaly.Verdict{}}, nil
}

// pointsBody is a POST /api/v1/points body of n points over 1000 series
// of a realistic shape, 10 consecutive points per series.
func pointsBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"points":[`)
	sec := now.Unix() - int64(n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		s := i / 10 % 1000
		fmt.Fprintf(&b, `{"series":"http_requests_total{host=\"web-%03d\",region=\"eu-west-1\",code=\"200\"}","timestamp":%d,"value":%s}`,
			s, sec+int64(i), strconv.FormatFloat(float64(i%977)*1.25, 'f', -1, 64))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkDecodePoints sends POST /api/v1/points bodies of 100, 1000
// and 10000 points through the whole handler in process. points/s and
// allocs/point are the figures to compare.
func BenchmarkDecodePoints(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			body := pointsBody(n)
			a, err := New(Config{MaxPoints: 1 << 20, MaxFuture: time.Hour}, Deps{
				Engine: &discardEngine{},
				Now:    func() time.Time { return now },
			})
			if err != nil {
				b.Fatal(err)
			}
			send := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodPost, "/api/v1/points", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				a.ServeHTTP(w, req)
				return w
			}
			if w := send(); w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"accepted":`+strconv.Itoa(n))) {
				b.Fatalf("%d %.300s", w.Code, w.Body)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				send()
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			// CPU time of the process (GC included) per point: on a busy
			// machine it moves far less than wall-clock time does.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n*b.N), "cpu-ns/point")
			b.ReportMetric(testing.AllocsPerRun(3, func() { send() })/float64(n), "allocs/point")
		})
	}
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeDistinct decodes a body as the load harness sends it
// (benchmarks/load): 5,000 points, each of its own series with escaped
// quotes, the validating pass and finish alone (no handler, no engine).
func BenchmarkDecodeDistinct(b *testing.B) {
	const n = 5000
	var buf bytes.Buffer
	buf.WriteString(`{"points":[`)
	devices := [...]string{"tv_sony", "tv_samsung", "web_chrome", "web_safari"}
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"series":"play_starts{title=\"%d\",device=\"%s\",bitrate=\"%d\"}","timestamp":%d,"value":%d.%d}`,
			80000+i/40, devices[i%len(devices)], 235+i%5*500, now.Unix()-60, 300+i%50, i%10)
	}
	buf.WriteString(`]}`)
	body := buf.Bytes()
	allowed := []string{"points"}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		shape := pointShape{series: true, checkFuture: true, now: now, maxFuture: time.Hour}
		bd, err := parseBody(body, &shape, 1<<20, allowed)
		if err != nil || len(bd.pts.samples) != n {
			b.Fatal(err)
		}
		bd.pts.finish(body)
		bd.pts.release()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*b.N), "ns/point")
}
