package series

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// Engine benchmarks. Commands:
//
//	go test -run '^$' -bench 'EngineIngest|ShardApply' -benchtime 200x -benchmem -count 5 ./series/
//	go test -run '^$' -bench 'EngineMemory' ./series/ -args -memseries 1e5,1e6
//	go test -run '^$' -bench 'EngineIngest/series=1e\+06/producers=4' -benchtime 3000x ./series/ -args -ingestprofile /tmp/ingest.prof
//
// BenchmarkEngineIngest pushes batches of benchBatch points, each for a
// random live series, through the real Ingest path (parse and hash of the
// canonical key, grouping by shard, the shard channels, the model update,
// the verdicts back) with 1e5 and 1e6 live series that are past their
// learning phase, from one producer and from four concurrent producers.
// BenchmarkShardApply is the shard path alone. Both report cpu-ns/point,
// the process CPU time per point, which a busy machine disturbs far less
// than the wall clock. BenchmarkEngineMemory (memory_timing_test.go)
// reports the heap and RSS one live series costs.
//
// Measured on the 2-core development machine (GOMAXPROCS 2, so 2 shards)
// at a load average of 12-30 from other work, default model config except
// MinPoints 3, medians of 5 runs taken in turns with the build before the
// key arena and open-addressing index (points/s varied tenfold):
//
//	                                      before      after (CPU per point)
//	EngineIngest series=1e5 producers=1   2.47 µs     2.04 µs   0 allocs/batch
//	EngineIngest series=1e5 producers=4   2.57 µs     2.02 µs
//	EngineIngest series=1e6 producers=1   3.77 µs     2.86 µs
//	EngineIngest series=1e6 producers=4   4.28 µs     2.73 µs
//	ShardApply   series=1e5               1.91 µs     1.26 µs   0 allocs
//	ShardApply   series=1e6               3.42 µs     1.77 µs
//	EngineMemory series=1e6 heap / RSS    831 / 903   719 / 741 bytes/series
//	EngineMemory series=1e7 heap / RSS                706 / 732 bytes/series
//
// The read-ahead passes (shard.warm, touchSeries): CPU per point, median
// and range of 6 runs of each build taking turns at a load average of
// 23-31; -ingestprofile writes a CPU profile of the measured runs alone:
//
//	                                      before              after
//	EngineIngest series=1e5 producers=4   1.47 (1.34-1.92)    0.98 (0.91-1.29) µs
//	EngineIngest series=1e6 producers=4   2.70 (2.15-3.47)    1.44 (1.25-2.06) µs
//	ShardApply   series=1e6               1.20 (1.07-1.50)    0.97 (0.80-1.02) µs

const benchBatch = 1000

// benchFixture is an engine with n warmed-up series, shared by the runs
// of one sub-benchmark (set-up of 1e6 series takes seconds).
type benchFixture struct {
	e      *Engine
	keys   []string
	tick   atomic.Int64 // next batch timestamp, Unix ms
	setErr error
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[int]*benchFixture{}
)

const sizeofSlot = unsafe.Sizeof(slot{})

func benchKey(i int) string {
	return fmt.Sprintf(`bench_requests{host="h%07d",region="r%d"}`, i, i%5)
}

func benchConfig() models.Config {
	c := models.DefaultConfig()
	c.MinPoints = 3 // reach the judged (steady-state) path quickly
	return c
}

func fixture(b *testing.B, n int) *benchFixture {
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if f, ok := fixtures[n]; ok {
		return f
	}
	f := &benchFixture{keys: make([]string, n)}
	for i := range f.keys {
		f.keys[i] = benchKey(i)
	}
	f.e, f.setErr = NewEngine(Options{MaxSeries: benchMaxSeries(n), Model: benchConfig(), QueueDepth: 16})
	if f.setErr != nil {
		b.Fatal(f.setErr)
	}
	// Warm up: every series learns MinPoints+1 points.
	batch := make([]anomaly.Sample, 0, 10000)
	for round := range benchConfig().MinPoints + 1 {
		ts := int64(round) * 60000
		for i, k := range f.keys {
			batch = append(batch, anomaly.Sample{Series: k, TimestampMs: ts, Value: 100 + float64(i%13)})
			if len(batch) == cap(batch) || i == len(f.keys)-1 {
				if _, err := f.e.Ingest(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	f.tick.Store(int64(benchConfig().MinPoints+1) * 60000)
	fixtures[n] = f
	return f
}

func BenchmarkEngineIngest(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		for _, producers := range []int{1, 4} {
			for _, decoded := range []bool{false, true} {
				name := fmt.Sprintf("series=%.0e/producers=%d/keys=scattered", float64(n), producers)
				if decoded {
					name = fmt.Sprintf("series=%.0e/producers=%d/keys=decoded", float64(n), producers)
				}
				b.Run(name, func(b *testing.B) { benchIngest(b, n, producers, decoded) })
			}
		}
	}
}

// benchIngest runs b.N batches of benchBatch points through Ingest from
// producers goroutines. With decoded false each batch is drawn at random
// from the producer's share of the series, its series texts the
// fixture's own strings, scattered over the heap: what a caller that keeps
// a string per series hands in. With decoded true the batches are laid out
// before the timer as the HTTP decoder leaves them (decodedBatches): the
// timed loop only stamps each batch's timestamp, so the figure is the
// engine's alone.
func benchIngest(b *testing.B, n, producers int, decoded bool) {
	f := fixture(b, n)
	ctx := context.Background()
	var laid [][][]anomaly.Sample // per producer
	if decoded {
		laid = make([][][]anomaly.Sample, producers)
		for p := range producers {
			laid[p] = decodedBatches(f, rand.New(rand.NewPCG(uint64(p), 5)), p, producers)
		}
	}
	stop := startIngestProfile(b)
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	var next atomic.Int64 // batches handed out
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(p), 2))
			batch := make([]anomaly.Sample, benchBatch)
			for k := 0; next.Add(1) <= int64(b.N); k++ {
				if decoded {
					ingestLaid(b, f, ctx, laid[p][k%len(laid[p])])
				} else {
					runProducer(b, f, ctx, r, p, producers, batch)
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	cpu := processCPU() - cpu0
	points := float64(b.N) * benchBatch
	b.ReportMetric(points/b.Elapsed().Seconds(), "points/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/points, "ns/point")
	b.ReportMetric(float64(cpu.Nanoseconds())/points, "cpu-ns/point")
}

// decodedBatches lays producer p's share of the series (series i with
// i % producers == p) out as batches of benchBatch points, each series in
// exactly one batch, in a random order; the series texts of a batch are
// copied into one buffer, in order, as a decoded request body holds them.
// A share that is not a whole number of batches leaves its last series
// out.
func decodedBatches(f *benchFixture, r *rand.Rand, p, producers int) [][]anomaly.Sample {
	share := len(f.keys) / producers
	order := r.Perm(share)
	var out [][]anomaly.Sample
	for lo := 0; lo+benchBatch <= share; lo += benchBatch {
		var buf strings.Builder
		ids := order[lo : lo+benchBatch]
		for _, j := range ids {
			buf.WriteString(f.keys[j*producers+p])
		}
		text, off := buf.String(), 0
		batch := make([]anomaly.Sample, benchBatch)
		for j, id := range ids {
			i := id*producers + p
			k := len(f.keys[i])
			batch[j] = anomaly.Sample{Series: text[off : off+k], Value: 100 + float64(i%13)}
			off += k
		}
		out = append(out, batch)
	}
	return out
}

// ingestLaid stamps a laid-out batch with the next timestamp and ingests
// it.
func ingestLaid(b *testing.B, f *benchFixture, ctx context.Context, batch []anomaly.Sample) {
	ts := f.tick.Add(60000)
	for j := range batch {
		batch[j].TimestampMs = ts
	}
	ingestChecked(b, f, ctx, batch)
}

// ingestChecked ingests a batch and fails the benchmark unless every
// point was accepted.
func ingestChecked(b *testing.B, f *benchFixture, ctx context.Context, batch []anomaly.Sample) {
	res, err := f.e.Ingest(ctx, batch)
	if err != nil || res.Accepted != benchBatch {
		b.Errorf("Ingest = %d accepted (%v), %v", res.Accepted, res.Errors[:min(3, len(res.Errors))], err)
	}
}

// ingestProfile names a CPU profile of the steady state of
// BenchmarkEngineIngest: unlike -test.cpuprofile it leaves out building the
// fixture (creating the series), which at 1e6 series is most of the run.
// Each sub-benchmark writes FILE.series=N.producers=P.
var ingestProfile = flag.String("ingestprofile", "", "write a CPU profile of BenchmarkEngineIngest's measured runs to this file prefix")

func startIngestProfile(b *testing.B) func() {
	if *ingestProfile == "" {
		return func() {}
	}
	name := *ingestProfile + "." + strings.ReplaceAll(strings.TrimPrefix(b.Name(), "BenchmarkEngineIngest/"), "/", ".")
	fh, err := os.Create(name)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(fh); err != nil {
		fh.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		fh.Close()
	}
}

// processCPU returns the CPU time (user and system) the process has used.
// On a machine shared with other work it is steadier than the wall clock:
// it leaves out the time the benchmark waited for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runProducer ingests one batch of benchBatch points for random series of
// producer p's share (series i with i % producers == p, so that concurrent
// producers never race on a series' timestamps).
func runProducer(b *testing.B, f *benchFixture, ctx context.Context, r *rand.Rand, p, producers int, batch []anomaly.Sample) {
	ts := f.tick.Add(60000)
	share := len(f.keys) / producers
	for j := range batch {
		i := r.IntN(share)*producers + p
		batch[j] = anomaly.Sample{Series: f.keys[i], TimestampMs: ts, Value: 100 + float64(i%13)}
	}
	ingestChecked(b, f, ctx, batch)
}

// BenchmarkShardApply measures the shard path alone: one shard applying a
// prepared batch of benchBatch points of its own random series (index and
// LRU lookups, model update, verdict), without parsing or channels.
func BenchmarkShardApply(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("series=%.0e", float64(n)), func(b *testing.B) {
			f := fixture(b, n)
			sh := f.e.shards[0]
			var own []item
			for _, k := range f.keys {
				if h := HashString(k); f.e.shardOf(h) == sh {
					own = append(own, item{hash: h, key: k})
				}
			}
			req := &request{done: make(chan struct{}, 1)}
			sub := &subBatch{req: req, items: make([]item, benchBatch), outs: make([]outcome, benchBatch)}
			r := rand.New(rand.NewPCG(3, 4))
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				ts := f.tick.Add(60000)
				for j := range sub.items {
					sub.items[j] = own[r.IntN(len(own))]
					sub.items[j].ts, sub.items[j].v = ts, 100
				}
				req.pending.Store(1)
				b.StartTimer()
				cpu0 := processCPU()
				sh.apply(sub)
				<-req.done
				cpu += processCPU() - cpu0
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/point")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*benchBatch), "cpu-ns/point")
		})
	}
}

var benchNoLRU = false

func benchMaxSeries(n int) int {
	if benchNoLRU {
		return -1
	}
	return 2 * n
}

// BenchmarkIngestChunks measures what handing a batch to the shards in
// chunks gains one producer (one ingest slot of the HTTP API): 5,000-point
// batches of 200,000 warmed-up series whose labels are written out of
// order, as the load harness writes them (so every key is canonicalised
// into the request's buffer), laid out as a decoded request holds them,
// with the batch in one hand-over (chunks=1) and in chunks (chunks=8,
// the default).
func BenchmarkIngestChunks(b *testing.B) {
	const n, batch = 200_000, 5000
	key := func(i int) string {
		return fmt.Sprintf(`play_starts{title="%d",device="d%d",bitrate="%d"}`, 80000+i/40, i%8, i%5)
	}
	e, err := NewEngine(Options{MaxSeries: 2 * n, Model: benchConfig()})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background()) //nolint:errcheck // the benchmark's own engine
	var batches [][]anomaly.Sample
	for lo := 0; lo < n; lo += batch {
		var buf strings.Builder
		for i := lo; i < lo+batch; i++ {
			buf.WriteString(key(i))
		}
		text, off := buf.String(), 0
		s := make([]anomaly.Sample, batch)
		for j := range s {
			k := len(key(lo + j))
			s[j] = anomaly.Sample{Series: text[off : off+k], Value: 100 + float64(j%13)}
			off += k
		}
		batches = append(batches, s)
	}
	ts := int64(0)
	ingest := func(b *testing.B, s []anomaly.Sample) { // at the next timestamp
		ts += 60000
		for j := range s {
			s[j].TimestampMs = ts
		}
		if res, err := e.Ingest(context.Background(), s); err != nil || res.Accepted != batch {
			b.Fatalf("Ingest = %d accepted, %v", res.Accepted, err)
		}
	}
	for range benchConfig().MinPoints + 1 {
		for _, s := range batches {
			ingest(b, s)
		}
	}
	for _, chunks := range []int{1, 8} {
		b.Run(fmt.Sprintf("chunks=%d", chunks), func(b *testing.B) {
			defer func(m int) { maxChunks = m }(maxChunks)
			maxChunks = chunks
			b.ResetTimer()
			for k := 0; k < b.N; k++ {
				ingest(b, batches[k%len(batches)])
			}
			b.ReportMetric(float64(b.N)*batch/b.Elapsed().Seconds(), "points/s")
		})
	}
}
