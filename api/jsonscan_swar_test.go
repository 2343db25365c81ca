package api

import (
	"math/rand/v2"
	"testing"
)

// skipSafe stops at the first byte that is not strSafe, or earlier within
// the last 8 bytes; never past one.
func TestSkipSafeMatchesTheByteLoop(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	special := []byte{'"', '\\', 0, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 'a'}
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = special[r.IntN(len(special))]
			} else {
				b[i] = byte(r.UintN(256))
			}
		}
		for start := 0; start <= len(b); start++ {
			want := start
			for want < len(b) && strSafe[b[want]] {
				want++
			}
			got := skipSafe(b, start)
			if got > want || got < start || (got < want && got+8 <= len(b)) {
				t.Fatalf("skipSafe(%q, %d) = %d, first unsafe byte at %d", b, start, got, want)
			}
		}
	}
}
