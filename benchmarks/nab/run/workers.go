package run

import "runtime"

// Workers is the default number of files run in parallel: GOMAXPROCS.
func Workers() int { return runtime.GOMAXPROCS(0) }
