package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/anomalyd/detector/algorithms/robust"
)

// rollingResult is the same-workload run: the wall and process CPU
// seconds it took and the row-major indices of the points it flagged,
// ascending.
type rollingResult struct {
	seconds, cpuSeconds float64
	flagged             []int64
	producers           int
}

// prefetchAhead is how many series ahead of the one being pushed a
// producer prefetches the state of (robust.MovingZ.Prefetch).
const prefetchAhead = 4

// rollingRun computes pandas' recipe, z = (x - med) / (1.4826 MAD) with the
// rolling median and the rolling MAD over window values (min_periods
// window/2), with robust.MovingZ, streaming: one goroutine per core owns a
// range of series and takes the points in time order, each point pushed
// into its series' state as it arrives, as the service would take them
// (the state of the series four places ahead prefetched, so that the cache
// misses of several series overlap). It
// flags |z| > 5, as robustz.py does. The states are allocated before the
// clock starts (pandas' frames are built before its clock too).
func rollingRun(vals []float64, nSeries, nPoints, window int) rollingResult {
	producers := max(1, min(runtime.GOMAXPROCS(0), nSeries))
	floats := robust.MovingZFloats(window)
	states := make([][]robust.MovingZ, producers)
	for p := range states {
		lo, hi := nSeries*p/producers, nSeries*(p+1)/producers
		st := make([]robust.MovingZ, hi-lo)
		buf := make([]float64, len(st)*floats)
		for i := range st {
			st[i].Init(window, window/2, 1.4826, buf[i*floats:(i+1)*floats:(i+1)*floats])
		}
		states[p] = st
	}
	flagged := make([][]int64, producers)
	var ready, done sync.WaitGroup
	ready.Add(producers)
	done.Add(producers)
	start := make(chan struct{})
	for p := range producers {
		go func(p int) {
			defer done.Done()
			lo := nSeries * p / producers
			st := states[p]
			var out []int64
			ready.Done()
			<-start
			for t := range nPoints {
				row := vals[t*nSeries+lo : t*nSeries+lo+len(st)]
				for i, x := range row {
					if i+prefetchAhead < len(st) {
						st[i+prefetchAhead].Prefetch()
					}
					if z, _, _ := st[i].Push(x); math.Abs(z) > 5 {
						out = append(out, int64(t*nSeries+lo+i))
					}
				}
			}
			flagged[p] = out
		}(p)
	}
	ready.Wait()
	cpu0 := processCPU()
	t0 := time.Now()
	close(start)
	done.Wait()
	res := rollingResult{seconds: time.Since(t0).Seconds(), cpuSeconds: (processCPU() - cpu0).Seconds(), producers: producers}
	for _, f := range flagged {
		res.flagged = append(res.flagged, f...)
	}
	slices.Sort(res.flagged)
	return res
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readIndices reads the little-endian int64 indices robustz.py wrote.
func readIndices(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("%s: %d bytes, not a whole number of int64", path, len(b))
	}
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out, nil
}

// diffSorted counts the elements of the ascending a missing from the
// ascending b, and those of b missing from a.
func diffSorted(a, b []int64) (onlyA, onlyB int) {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			onlyA++
			i++
		case a[i] > b[j]:
			onlyB++
			j++
		default:
			i++
			j++
		}
	}
	return onlyA + len(a) - i, onlyB + len(b) - j
}
