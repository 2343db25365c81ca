//go:build !linux

package series

import "unsafe"

// adviseHugePages does nothing outside Linux (see hugepage_linux.go).
func adviseHugePages(p unsafe.Pointer, n uintptr) {}
