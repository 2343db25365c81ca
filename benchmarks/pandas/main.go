// Command pandas compares the service's engine with the route a user
// would take without it: pandas' rolling median/MAD z-scores over a wide
// frame (Debian's python3-pandas), on the same points, in one run.
//
//	go run ./benchmarks/pandas -series 10000 -points 1000
//
// It writes the points to a temporary file, times benchmarks/pandas/robustz.py
// on them (loading excluded), then feeds the same points in time order
// through the in-process series engine (key canonicalisation, sharding, the
// full model: robust level and scale, seasonal profile, novelty and
// likelihood detectors, verdicts) and prints both rates and their ratio.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/series"
)

func main() {
	nSeries := flag.Int("series", 10_000, "series (columns of the frame)")
	nPoints := flag.Int("points", 1_000, "points per series (rows)")
	window := flag.Int("window", 60, "pandas rolling window")
	python := flag.String("python", "/usr/bin/python3", "Python with pandas")
	flag.Parse()
	if err := run(*nSeries, *nPoints, *window, *python); err != nil {
		fmt.Fprintln(os.Stderr, "pandas:", err)
		os.Exit(1)
	}
}

// value is point t of series s: a daily cycle (one point a minute), noise
// and a rare spike.
func value(rng *rand.Rand, s, t int) float64 {
	v := 100 + float64(s%40) + 15*math.Sin(2*math.Pi*float64(t)/1440+float64(s%9)) + rng.NormFloat64()*2
	if rng.IntN(2000) == 0 {
		v += 40
	}
	return v
}

func run(nSeries, nPoints, window int, python string) error {
	rng := rand.New(rand.NewPCG(7, 11))
	vals := make([]float64, nSeries*nPoints) // row-major: time step, then series
	for t := 0; t < nPoints; t++ {
		for s := 0; s < nSeries; s++ {
			vals[t*nSeries+s] = value(rng, s, t)
		}
	}
	dir, err := os.MkdirTemp("", "detector-pandas-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "points.f64")
	buf := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		return err
	}
	buf = nil

	out, err := exec.Command(python, "benchmarks/pandas/robustz.py", path, strconv.Itoa(nSeries), strconv.Itoa(nPoints), strconv.Itoa(window)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("robustz.py (run from the repository root; needs python3-pandas): %v\n%s", err, ee.Stderr)
		}
		return err
	}
	var py struct {
		Seconds float64 `json:"seconds"`
		Points  int     `json:"points"`
	}
	if err := json.Unmarshal(out, &py); err != nil {
		return fmt.Errorf("robustz.py printed %q: %v", out, err)
	}

	goSec, anomalous, err := engineRun(vals, nSeries, nPoints)
	if err != nil {
		return err
	}
	pandasRate := float64(py.Points) / py.Seconds
	goRate := float64(nSeries*nPoints) / goSec
	fmt.Printf("points: %d (%d series x %d)\n", nSeries*nPoints, nSeries, nPoints)
	fmt.Printf("pandas rolling median/MAD z (window %d): %.2f s, %.2f M points/s\n", window, py.Seconds, pandasRate/1e6)
	fmt.Printf("detector engine (full model, %d shards): %.2f s, %.2f M points/s, %d anomalous verdicts\n", runtime.GOMAXPROCS(0), goSec, goRate/1e6, anomalous)
	fmt.Printf("ratio: %.1fx\n", goRate/pandasRate)
	return nil
}

// engineRun feeds the points through a fresh engine, one time step after
// the other, from one producer per core, and returns the seconds it took.
func engineRun(vals []float64, nSeries, nPoints int) (float64, int, error) {
	e, err := series.NewEngine(series.Options{MaxSeries: nSeries + 1})
	if err != nil {
		return 0, 0, err
	}
	defer e.Close(context.Background())
	keys := make([]string, nSeries)
	for s := range keys {
		keys[s] = fmt.Sprintf(`play_starts{title="%d",device="d%d"}`, 80000+s/8, s%8)
	}
	producers := runtime.GOMAXPROCS(0)
	const batch = 5000
	start := time.Now().Add(-time.Duration(nPoints+1) * time.Minute).UnixMilli()
	var anomalous int
	var mu sync.Mutex
	t0 := time.Now()
	for t := 0; t < nPoints; t++ {
		ts := start + int64(t)*60_000
		var wg sync.WaitGroup
		errs := make(chan error, producers)
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				lo, hi := nSeries*p/producers, nSeries*(p+1)/producers
				samples := make([]anomaly.Sample, 0, batch)
				for i := lo; i < hi; i += batch {
					samples = samples[:0]
					for s := i; s < min(i+batch, hi); s++ {
						samples = append(samples, anomaly.Sample{Series: keys[s], TimestampMs: ts, Value: vals[t*nSeries+s]})
					}
					for {
						res, err := e.Ingest(context.Background(), samples)
						if err != nil && len(res.Errors) == len(samples) {
							time.Sleep(time.Millisecond) // queues full: retry the batch
							continue
						}
						if res.Rejected > 0 {
							errs <- fmt.Errorf("engine rejected %d points: %v", res.Rejected, res.Errors[0])
							return
						}
						mu.Lock()
						anomalous += len(res.Anomalies)
						mu.Unlock()
						break
					}
				}
			}(p)
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, 0, err
		}
	}
	return time.Since(t0).Seconds(), anomalous, nil
}
