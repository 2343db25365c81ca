package series

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/models"
)

// BenchmarkEngineMemory reports what one live series costs: the live heap
// after a GC, and the resident set of a process that holds nothing else,
// each divided by the number of series; plus the slot and model sizes, and
// the heap a series costs beyond its model ("nonmodel-bytes/series": slot
// bookkeeping, key, index, slack).
//
// Each size is measured once, in a child process (a fresh copy of the test
// binary) that runs like `detector serve`: the memory limit derived from
// the series cap (benchMemoryLimit), n series created by batches of 10,000
// points. The figures do not depend on -benchtime: the b.N loop only
// repeats the report, so `-bench Engine -benchtime 200x` measures each size
// once. Sizes: -memseries (comma-separated, default 1e5,1e6), for example
//
//	go test ./series -run '^$' -bench EngineMemory -args -memseries 1e6,1e7
var memSeries = flag.String("memseries", "1e5,1e6", "series counts BenchmarkEngineMemory measures, comma-separated")

// memResult is what the child reports.
type memResult struct {
	heap, rss, sys float64 // bytes per series
}

var (
	memOnce    sync.Map // n -> *memEntry
	memChildEV = "DETECTOR_SERIES_MEMCHILD"
)

type memEntry struct {
	once sync.Once
	res  memResult
	err  error
}

func BenchmarkEngineMemory(b *testing.B) {
	for _, f := range strings.Split(*memSeries, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v < 1 {
			b.Fatalf("-memseries %q: want numbers such as 1e6", *memSeries)
		}
		n := int(v)
		b.Run(fmt.Sprintf("series=%.0e", float64(n)), func(b *testing.B) {
			me, _ := memOnce.LoadOrStore(n, &memEntry{})
			e := me.(*memEntry)
			e.once.Do(func() { e.res, e.err = memChild(n) })
			if e.err != nil {
				b.Fatal(e.err)
			}
			for range b.N {
			}
			model := float64(unsafe.Sizeof(models.Model{}))
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(e.res.heap, "heap-bytes/series")
			b.ReportMetric(e.res.rss, "rss-bytes/series")
			b.ReportMetric(e.res.heap-model, "nonmodel-bytes/series")
			b.ReportMetric(float64(sizeofSlot), "slot-bytes")
			b.ReportMetric(model, "model-bytes")
		})
	}
}

// memChild runs TestEngineMemoryChild in a child process for n series.
func memChild(n int) (memResult, error) {
	cmd := exec.Command(os.Args[0], "-test.run", "^TestEngineMemoryChild$", "-test.count", "1")
	cmd.Env = append(os.Environ(), memChildEV+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return memResult{}, fmt.Errorf("memory child for %d series: %w\n%s", n, err, out)
	}
	var r memResult
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "memchild "); ok {
			if _, err := fmt.Sscanf(rest, "heap=%g rss=%g sys=%g", &r.heap, &r.rss, &r.sys); err != nil {
				return r, fmt.Errorf("memory child: %q: %w", line, err)
			}
			return r, nil
		}
	}
	return r, fmt.Errorf("memory child for %d series printed no figures:\n%s", n, out)
}

// TestEngineMemoryChild is the child of BenchmarkEngineMemory; it skips
// unless started by it.
func TestEngineMemoryChild(t *testing.T) {
	env := os.Getenv(memChildEV)
	if env == "" {
		t.Skip("run by BenchmarkEngineMemory")
	}
	n, err := strconv.Atoi(env)
	if err != nil {
		t.Fatal(err)
	}
	if lim := benchMemoryLimit(n); lim > 0 {
		debug.SetMemoryLimit(lim)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rss0 := rssBytes(t)
	e, err := NewEngine(Options{MaxSeries: n + n/10, Model: benchConfig()})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([]anomaly.Sample, 0, 10000)
	for i := range n {
		// Keys built per batch, as a server decodes them from a request.
		batch = append(batch, anomaly.Sample{Series: benchKey(i), TimestampMs: 0, Value: float64(i)})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := e.Ingest(context.Background(), batch); err != nil {
				t.Fatal(err)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	rss1 := rssBytes(t)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := e.Stats().Series; got != n {
		t.Fatalf("%d live series, want %d", got, n)
	}
	fn := float64(n)
	fmt.Printf("memchild heap=%g rss=%g sys=%g\n", float64(after.HeapAlloc-before.HeapAlloc)/fn,
		float64(rss1-rss0)/fn, float64(after.Sys-before.Sys)/fn)
	runtime.KeepAlive(e)
}

// rssBytes reads the resident set size of this process.
func rssBytes(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
