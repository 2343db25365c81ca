package robust

// prefetchLines asks the CPU to bring lines cache lines from p on into the
// cache, without waiting for them.
//
//go:noescape
func prefetchLines(p *float64, lines int)
