package series

import (
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// madvHugePage is MADV_HUGEPAGE.
const madvHugePage = 14

// hugePagesOn says whether the engine asks for huge pages: it does unless
// GODEBUG has disablethp=1, the Go runtime's own switch for keeping huge
// pages off its heap.
var hugePagesOn = wantHugePages(os.Getenv("GODEBUG"))

// wantHugePages reads a GODEBUG value: false when it sets disablethp=1.
func wantHugePages(godebug string) bool {
	for _, kv := range strings.Split(godebug, ",") {
		if strings.TrimSpace(kv) == "disablethp=1" {
			return false
		}
	}
	return true
}

// adviseHugePages marks the memory of n bytes at p, rounded out to whole
// huge pages, as wanted in transparent huge pages (madvise MADV_HUGEPAGE),
// so that the kernel backs it with 2 MiB pages where it can: at the first
// touch of an untouched huge page, or later by khugepaged.
//
// Why: the series state is hundreds of megabytes read and written at
// random. In 4 KiB pages, 1 M series are about 150,000 page table entries,
// and on the 2-core machine of the README a service that merely holds that
// many pages answers reads with several times the tail latency of one that
// does not (load harness, idle phase: p99 1.7-8.5 ms against 6.4-13.3 ms
// at 1 M series in eight pairs of runs; a bare server holding 600 MB
// touched once, 5-7 ms against 1.4 ms in huge pages). Huge pages cut the
// entries 512-fold.
//
// The range is rounded out rather than in: a slot chunk (about 2.1 MB) is
// barely larger than a huge page and seldom holds an aligned one, so
// rounding in would leave most chunks in small pages. The memory rounded
// over belongs to this process's heap too (in practice the neighbouring
// chunks, which the allocator places side by side); the cost is at most a
// huge page's worth of resident memory at each end, which the harness's
// RSS per series does not show (616 B/series at 1 M series, as before).
//
// It does nothing when the kernel lacks transparent huge pages (the call
// fails and is ignored), when they are off system-wide
// (/sys/kernel/mm/transparent_hugepage/enabled "never"), or under
// GODEBUG=disablethp=1.
func adviseHugePages(p unsafe.Pointer, n uintptr) {
	if !hugePagesOn || n == 0 {
		return
	}
	beg := uintptr(p) &^ (hugePageSize - 1)
	end := (uintptr(p) + n + hugePageSize - 1) &^ (hugePageSize - 1)
	syscall.Syscall(syscall.SYS_MADVISE, beg, end-beg, madvHugePage)
}
