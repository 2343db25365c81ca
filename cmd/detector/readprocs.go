package main

import (
	"log/slog"
	"runtime"
)

// Reads noticed at once under full ingest.
//
// A verdict read's request is seen by the Go scheduler only when some P
// polls the network: a P that runs out of work does, and the runtime's
// monitor does every 10 ms when none does. During full ingest the shard
// goroutines keep every P busy (runtime.Gosched at their yields does not
// poll the network), so a read may wait for the end of the batch being
// applied or for that 10 ms poll.
//
// So `detector serve` runs with --read-procs Ps (default 1) beyond the
// ones everything else is sized on: shards, ingest slots, peers workers
// and the API's turns are set from GOMAXPROCS before the extra P is added,
// so ingest never has work for it, and an idle P always waits in the
// network poller. A read wakes that P's thread at once, and the kernel
// gives it a core (a thread that slept preempts the busy ones); ingest
// keeps the cores it had. On the shared, loaded 2-core machine its effect
// on detect latency could not be told from the noise (docs/operations.md,
// "Reads under full ingest: where the tail came from"); --read-procs 0
// turns it off.

// addReadProcs raises GOMAXPROCS by n (n <= 0: unchanged) and returns
// the new value. Call it after NewMain, which sizes the service on
// GOMAXPROCS, with n from readProcsWith.
func addReadProcs(n int, log *slog.Logger) int {
	p := runtime.GOMAXPROCS(0)
	if n <= 0 {
		return p
	}
	runtime.GOMAXPROCS(p + n)
	log.Info("a P beyond the ingest's for reads", "read_procs", n, "gomaxprocs", p+n)
	return p + n
}
