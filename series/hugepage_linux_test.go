package series

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping of this process that holds
// address a, from /proc/self/smaps.
func vmFlags(t *testing.T, a uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(line, ":") && !strings.Contains(lo, ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(a) >= l && uint64(a) < h
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	t.Fatalf("no mapping holds %#x", a)
	return nil
}

func thpAvailable(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("this kernel has no transparent huge pages")
	}
	if !hugePagesOn {
		t.Skip("GODEBUG=disablethp=1")
	}
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// A slot chunk, from its first to its last byte, a big key arena chunk and
// a large index table lie in memory marked for huge pages ("hg" in the
// mapping's flags).
func TestHugePagesAdvised(t *testing.T) {
	thpAvailable(t)
	c := newChunk()
	first := uintptr(unsafe.Pointer(&c[0]))
	last := uintptr(unsafe.Pointer(&c[len(c)-1])) + unsafe.Sizeof(slot{}) - 1
	for _, a := range []uintptr{first, last} {
		if fl := vmFlags(t, a); !hasFlag(fl, "hg") {
			t.Errorf("chunk byte at %#x: VmFlags %v, want hg", a, fl)
		}
	}
	a := newKeyArena()
	ch := a.chunks[a.newChunk(bigArenaChunk)]
	if fl := vmFlags(t, uintptr(unsafe.Pointer(unsafe.SliceData(ch)))); !hasFlag(fl, "hg") {
		t.Errorf("big arena chunk: VmFlags %v, want hg", fl)
	}
	tab := newTable(4 * hugePageSize / 8)
	if fl := vmFlags(t, uintptr(unsafe.Pointer(&tab[len(tab)/2]))); !hasFlag(fl, "hg") {
		t.Errorf("index table: VmFlags %v, want hg", fl)
	}
}

func TestWantHugePages(t *testing.T) {
	for in, want := range map[string]bool{
		"": true, "gctrace=1": true, "disablethp=1": false, "gctrace=1,disablethp=1": false,
		"disablethp=0": true, " disablethp=1": false,
	} {
		if got := wantHugePages(in); got != want {
			t.Errorf("wantHugePages(%q) = %v, want %v", in, got, want)
		}
	}
}
