//go:build race

package main

// raceEnabled reports whether the test binary is built with -race, which
// makes the in-process load generator several times more expensive.
const raceEnabled = true
