package procstat

import (
	"os"
	"testing"
)

func TestSelf(t *testing.T) {
	rss, err := RSS(os.Getpid())
	if err != nil || rss < 1<<20 {
		t.Fatalf("RSS(self) = %d, %v; want at least 1 MiB", rss, err)
	}
	// Burn a little CPU so that at least one clock tick is counted.
	x := 0
	for i := range 200_000_000 {
		x ^= i * i
	}
	if x == 42 {
		t.Log(x)
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil || cpu <= 0 {
		t.Fatalf("CPUTime(self) = %v, %v; want > 0", cpu, err)
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("RSS(-1) = nil error, want one")
	}
}
