// Command modelcount runs N model updates of the canonical scenario (the
// loop of models.BenchmarkUpdate) and nothing else, so that an instruction
// counter gives the cost of one update, repeatable whatever the load of the
// machine:
//
//	go build -o /tmp/modelcount ./benchmarks/modelcount
//	for n in 1000 101000; do
//	  GOGC=off GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind \
//	    --callgrind-out-file=/tmp/cg.$n /tmp/modelcount $n 2>&1 | grep Collected
//	done
//
// The difference of the two counts over 100,000 is the instructions per
// update (the first 1,000 points, the scenario's set-up and the runtime's
// start are in both). The test binary itself does not run under valgrind
// reliably (the benchmark harness reads the cycle counter with an
// instruction valgrind does not know). See models/PERFORMANCE.md.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: modelcount N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "modelcount: N must be a count of updates")
		os.Exit(2)
	}
	c := models.DefaultConfig()
	sc := synth.NewScenario(1)
	var m models.Model
	var sum float64
	for i := range n {
		j := i % len(sc.Ts)
		sum += m.Update(&c, sc.Ts[j]+int64(i/len(sc.Ts))*14*86400000, sc.Values[j]).Score
	}
	fmt.Printf("%d updates, score sum %.6g\n", n, sum)
}
