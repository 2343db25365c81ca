package anomaly

import (
	"fmt"
	"time"
)

// Recorder takes anomaly events (opened, updated, resolved). It is the one
// interface every event source writes to: the engine's shard goroutines,
// the peer groups and the restart reconciliation. Implementations must be
// safe for concurrent use and must not block on disk, on the network or on
// a reader: Record is called in the middle of processing points.
type Recorder interface {
	Record(ev Event)
}

// CheckFuture is the future-timestamp rule every input applies: a sample
// more than maxFuture ahead of now is rejected with CodeFutureTimestamp
// (Index -1; the caller sets the index and field). maxFuture <= 0 turns
// the rule off.
func CheckFuture(ms int64, now time.Time, maxFuture time.Duration) *Error {
	if maxFuture <= 0 {
		return nil
	}
	if limit := now.Add(maxFuture).UnixMilli(); ms <= limit {
		return nil
	}
	aheadMs := ms - now.UnixMilli()
	ahead := (time.Duration(aheadMs) * time.Millisecond).Round(time.Second).String()
	if aheadMs > 100*365*86400*1000 { // beyond what a Duration holds
		ahead = fmt.Sprintf("%d days", aheadMs/(86400*1000))
	}
	return &Error{Code: CodeFutureTimestamp, Index: -1, Message: fmt.Sprintf("timestamp %s is %s ahead of the server clock; the limit is %s",
		time.UnixMilli(ms).UTC().Format(time.RFC3339Nano), ahead, maxFuture)}
}
