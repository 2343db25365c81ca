package service

import (
	"sync"
	"time"
)

// bucket is a token bucket of points: rate tokens a second, holding at
// most one second's worth. Safe for concurrent use.
type bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, now time.Time) *bucket {
	return &bucket{rate: rate, tokens: rate, last: now}
}

// take takes n tokens when the bucket holds them and reports whether it
// did; a batch larger than one second's worth is taken once the bucket is
// full, so that it is not refused for ever.
func (b *bucket) take(n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.rate, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	need := min(float64(n), b.rate)
	if b.tokens < need {
		return false
	}
	b.tokens -= float64(n)
	return true
}
