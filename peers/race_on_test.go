//go:build race

package peers_test

// raceEnabled: the race detector slows the simulation about tenfold.
const raceEnabled = true
