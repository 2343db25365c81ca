package series

// appliers bounds the shard goroutines that apply points at once
// (Options.Appliers). A shard takes a turn before it locks itself for a
// run of applyYield points and gives it back after unlocking, so a shard
// waiting for a turn holds no lock: its readers are served, and its
// goroutine is parked rather than running, which leaves a core idle.
//
// That idle core is what keeps verdict reads fast under full ingest. With
// every core running a shard, a read's request is noticed only when some
// core runs out of work or when the runtime's monitor polls the network
// (every 10 ms when no core is idle): runtime.Gosched at the yields does
// not poll it. Measured on 2 cores (docs/operations.md, "Reads under full
// ingest"): the reads' wait in the Go run queue stays under 1 ms at p99
// while their p99 is 9-14 ms; one turn instead of two brings detect
// p50/p99 down in every run at 200k series, but at 1M series it costs
// HTTP ingest about a fifth of its throughput (the service then uses
// about one core), so it is off unless asked for.
type appliers chan struct{}

func newAppliers(n, shards int) appliers {
	if n <= 0 || n >= shards {
		return nil // every shard may apply: no bound
	}
	return make(appliers, n)
}

// take waits for a turn; nil appliers do not bound.
func (a appliers) take() {
	if a != nil {
		a <- struct{}{}
	}
}

// give returns a turn.
func (a appliers) give() {
	if a != nil {
		<-a
	}
}
