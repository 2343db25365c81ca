//go:build !amd64

package robust

func prefetchLines(p *float64, lines int) {}
