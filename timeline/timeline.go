package timeline

import "github.com/anomalyd/detector/anomaly"

// Timeline is what every timeline backend is: the in-memory Memory and
// the bbolt store. Safe for concurrent use. The service feeds Record from
// its event log on one subscriber goroutine.
type Timeline interface {
	Recorder
	Reader
	// MaxID is the highest anomaly id recorded (0 when none), so that ids
	// continue after a restart.
	MaxID() anomaly.ID
	// Close stops the backend; events recorded after Close are dropped.
	Close() error
}
