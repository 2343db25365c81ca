//go:build !amd64

package robust

func prefetchWindows(ringA, sortedA *float64, linesA int, ringB, sortedB *float64, linesB int) {}
