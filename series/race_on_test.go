//go:build race

package series

// raceEnabled: the race detector makes regular expressions and locks many
// times slower, so timing judgements are skipped under it.
const raceEnabled = true
