package series

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anomalyd/detector/anomaly"
)

// readPathValue is the value of series i at round r: a verdict whose
// value and timestamp come from different points (a torn read) does not
// satisfy it.
func readPathValue(i, r int) float64 { return float64(i*10_000 + r) }

// TestReadsDuringApply reads verdicts while batches are applied, series
// are created and evicted (the cap is below the series count) and sweeps
// run, through Latest, Get, WhatIf and the path taken while a batch holds
// the shard (readSlotApplying, called directly so that it runs whatever
// the timing). Every verdict must be one point's: run it with -race. It
// runs twice: with the shard goroutines scheduled by Go, and on threads of
// their own (Options.ShardThread), where apply does not Gosched at its
// yields.
func TestReadsDuringApply(t *testing.T) {
	t.Run("goroutines", func(t *testing.T) { readsDuringApply(t, nil) })
	var calls atomic.Int32
	t.Run("shard-threads", func(t *testing.T) {
		readsDuringApply(t, func() {
			calls.Add(1)
			runtime.LockOSThread() // for good: the thread ends with the shard
		})
		if n := calls.Load(); n != 2 {
			t.Errorf("ShardThread called %d times for 2 shards", n)
		}
	})
}

func readsDuringApply(t *testing.T, shardThread func()) {
	const (
		nSeries = 600
		rounds  = 60
		base    = int64(1_767_225_600_000)
		step    = int64(60_000)
	)
	e := newEngine(t, Options{Shards: 2, MaxSeries: 500, NoDataAfter: 3, ShardThread: shardThread})
	name := func(i int) string { return fmt.Sprintf("reads{n=\"%d\"}", i) }
	check := func(i int, v anomaly.Verdict) error {
		r := int((v.Timestamp.UnixMilli() - base) / step)
		if want := readPathValue(i, r); v.Value != want {
			return fmt.Errorf("series %d: verdict at %s (round %d) has value %v, want %v: a torn read", i, v.Timestamp, r, v.Value, want)
		}
		if v.Series != name(i) {
			return fmt.Errorf("series %d: verdict of %q", i, v.Series)
		}
		return nil
	}

	ctx := context.Background()
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	var reads, found atomic.Int64
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !done.Load() {
				i := rng.IntN(nSeries)
				reads.Add(1)
				switch rng.IntN(4) {
				case 0:
					v, err := e.Latest(ctx, name(i))
					if err != nil {
						if anomaly.ErrorCode(err) != anomaly.CodeNotFound {
							fail(err)
						}
						continue
					}
					found.Add(1)
					if err := check(i, v); err != nil {
						fail(err)
					}
				case 1:
					k, sh, err := e.lookup(name(i))
					if err != nil {
						fail(err)
						continue
					}
					var v anomaly.Verdict
					if sh.readSlotApplying(k, func(idx int32) { v = sh.latest(idx) }) {
						found.Add(1)
						if err := check(i, v); err != nil {
							fail(err)
						}
					}
				case 2:
					d, err := e.Get(ctx, name(i))
					if err != nil {
						if anomaly.ErrorCode(err) != anomaly.CodeNotFound {
							fail(err)
						}
						continue
					}
					found.Add(1)
					if err := check(i, d.RecentVerdicts[0]); err != nil {
						fail(err)
					}
					if d.LastTimestamp != d.RecentVerdicts[0].Timestamp || d.LastValue != d.RecentVerdicts[0].Value {
						fail(fmt.Errorf("series %d: summary at %s value %v, verdict at %s value %v", i,
							d.LastTimestamp, d.LastValue, d.RecentVerdicts[0].Timestamp, d.RecentVerdicts[0].Value))
					}
				default:
					_, err := e.WhatIf(ctx, name(i), []anomaly.Sample{{TimestampMs: base + rounds*step, Value: 1}})
					if err != nil && anomaly.ErrorCode(err) != anomaly.CodeNotFound {
						fail(err)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the writers other than apply
		defer wg.Done()
		for !done.Load() {
			if _, err := e.SweepNoData(ctx, 3); err != nil {
				fail(err)
			}
			time.Sleep(time.Millisecond)
		}
	}()

	batch := make([]anomaly.Sample, nSeries)
	for r := range rounds {
		// Each round sends every series once, in an order that changes, so
		// that the evicted series differ from round to round.
		for j := range batch {
			i := (j*7 + r*13) % nSeries
			batch[j] = anomaly.Sample{Series: name(i), TimestampMs: base + int64(r)*step, Value: readPathValue(i, r)}
		}
		if _, err := e.Ingest(ctx, batch); err != nil {
			t.Fatalf("round %d: %v", r, err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if found.Load() == 0 {
		t.Fatalf("%d reads, none found a series", reads.Load())
	}
	t.Logf("%d reads, %d found a series", reads.Load(), found.Load())
}
