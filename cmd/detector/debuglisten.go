//go:build debuglisten

package main

// With the debuglisten build tag, DETECTOR_DEBUG_ADDR names an address
// (e.g. 127.0.0.1:6060) that serves net/http/pprof (profiles, execution
// traces) on a listener of its own: for investigating latency, never in a
// release build.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
)

func init() {
	addr := os.Getenv("DETECTOR_DEBUG_ADDR")
	if addr == "" {
		return
	}
	if os.Getenv("DETECTOR_DEBUG_PROFILES") != "" {
		runtime.SetBlockProfileRate(10000)  // one sample per 10 µs blocked
		runtime.SetMutexProfileFraction(10) // one contention event in 10
	}
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
