package robust

// prefetchWindows asks the CPU to bring into the cache, without waiting
// for them, the cache line of ringA and of ringB and linesA cache lines
// from sortedA on and linesB from sortedB on.
//
//go:noescape
func prefetchWindows(ringA, sortedA *float64, linesA int, ringB, sortedB *float64, linesB int)
