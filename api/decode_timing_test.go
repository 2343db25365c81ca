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
