package api

import (
	"math/bits"
	"net/http"
	"sync"
)

// Request bodies are read into pooled buffers, by size class: a body of
// Content-Length n takes a buffer of the smallest class that holds n+1
// bytes (the +1 lets the read see the end without growing), so that a
// steady stream of batches reuses the same few buffers instead of growing
// a fresh one per request. A buffer goes back to its pool once the request
// is answered (recycleBody, called by wrap and wrapWrite): nothing may keep
// a slice of the body past that (readBody's results are copies, and the
// series texts of points are a string of their own, points.go).
const (
	minBodyShift = 12      // the smallest class: 4 KiB
	maxBodyShift = 26      // the largest pooled: 64 MiB
	maxFreshBody = 1 << 20 // a new buffer is at most this big up front
)

var bodyPools [maxBodyShift - minBodyShift + 1]sync.Pool

// getBodyBuf returns an empty buffer for a body of contentLength bytes (-1
// or 0 when unknown), which the caller has already checked against the
// body limit. A pooled buffer is taken whatever its size; a new one is at
// most maxFreshBody up front, so that a declared length alone (a client
// that announces the limit and sends nothing) never makes the server
// allocate the limit: the buffer then grows with what arrives.
func getBodyBuf(contentLength int64) []byte {
	want := 4096
	if contentLength > 0 {
		want = int(contentLength) + 1
	}
	shift := max(minBodyShift, bits.Len(uint(want-1)))
	if shift <= maxBodyShift {
		if p, ok := bodyPools[shift-minBodyShift].Get().(*[]byte); ok {
			return (*p)[:0]
		}
	}
	return make([]byte, 0, min(1<<shift, maxFreshBody))
}

// putBodyBuf gives b back to the pool of the largest class it holds.
func putBodyBuf(b []byte) {
	c := cap(b)
	if c < 1<<minBodyShift {
		return
	}
	shift := bits.Len(uint(c)) - 1
	if shift > maxBodyShift {
		return
	}
	b = b[:0]
	bodyPools[shift-minBodyShift].Put(&b)
}

// growBody returns the capacity a full body buffer of capacity c grows
// to: the next power of two, so that it belongs to a size class again,
// and no more than the body limit needs.
func growBody(c int, limit int64) int {
	next := 1 << bits.Len(uint(max(c, 1<<minBodyShift)))
	return int(min(int64(next), max(int64(c)+1, limit+1)))
}

// recycleBody gives the body admit read for r back to the pool. The
// wrappers call it once the answer is written.
func recycleBody(r *http.Request) {
	if b, ok := bodyBytes(r); ok {
		putBodyBuf(b)
	}
}
