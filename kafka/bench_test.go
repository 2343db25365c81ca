package kafka

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/service"
)

// BenchmarkConsume measures what one node consumes and learns: b.N JSON
// points over 10,000 series in a 12-partition topic of an in-process
// kfake broker (which shares the CPU), through the service's writer into
// a 2-shard engine, checkpoints every 5 s included. points/s is the
// figure; run with -benchtime=200000x or more.
func BenchmarkConsume(b *testing.B) {
	const nSeries = 10_000
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(12, "points"))
	if err != nil {
		b.Fatal(err)
	}
	defer kc.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(kc.ListenAddrs()...), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	names := make([]string, nSeries)
	keys := make([][]byte, nSeries)
	for i := range names {
		names[i] = fmt.Sprintf(`bench{host="h%05d",dc="eu"}`, i)
		keys[i] = []byte(series.MustParse(names[i]).Canonical())
	}
	ctx := context.Background()
	recs := make([]*kgo.Record, 0, 10_000)
	for i := 0; i < b.N; i++ {
		s := i % nSeries
		recs = append(recs, &kgo.Record{Topic: "points", Key: keys[s],
			Value: fmt.Appendf(nil, `{"series":%q,"timestamp":%d,"value":%d}`, names[s], 1_700_000_000+60*(i/nSeries), 100+i%7)})
		if len(recs) == cap(recs) || i == b.N-1 {
			if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	eng, err := series.NewEngine(series.Options{Shards: 2, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	w := service.NewWriter(eng, nil, service.WriterOptions{})
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	c, err := New(Config{Brokers: kc.ListenAddrs(), Topic: "points", Group: "bench", SessionTimeout: 6 * time.Second}, eng, w)
	if err != nil {
		b.Fatal(err)
	}
	c.Start()
	for testutil.ToFloat64(c.m.learned) < float64(b.N) {
		time.Sleep(5 * time.Millisecond)
	}
	took, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	c.Close(ctx)
	b.ReportMetric(float64(b.N)/took.Seconds(), "points/s")
	// CPU time (user+system, this process: consumer, writer, engine and
	// the in-process broker's fetch side) per point: steadier than
	// points/s on a shared machine; one core sustains 1e9/this points/s.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/point")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
