//go:build !linux

package series

import "unsafe"

// hugePageSize is the huge page size the engine sizes its advice by.
const hugePageSize = 2 << 20

// adviseHugePages does nothing outside Linux (see hugepage_linux.go).
func adviseHugePages(p unsafe.Pointer, n uintptr) {}
