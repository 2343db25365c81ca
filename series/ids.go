package series

import "github.com/anomalyd/detector/anomaly"

// IDSpace hands out anomaly ids by series instead of from the engine's one
// counter: the scaled-out service numbers each Kafka partition's anomalies
// in a range of its own, so that ids are unique across the nodes and a
// partition's new owner continues its sequence. Implementations are safe
// for concurrent use; Next is called on the shard goroutines and must be
// cheap.
type IDSpace interface {
	// Next returns a new id for an anomaly of the series with canonical
	// key key.
	Next(key string) anomaly.ID
	// Reserve makes sure id is never handed out again (an id restored from
	// a checkpoint or a snapshot).
	Reserve(id anomaly.ID)
}

// SetIDSpace makes the engine take anomaly ids from s (nil: back to the
// engine's own counter). Ids handed out before are kept. Without a space
// ids come from one counter per engine, as they always did. Safe for
// concurrent use.
func (e *Engine) SetIDSpace(s IDSpace) {
	if s == nil {
		e.ids.Store(nil)
		return
	}
	e.ids.Store(&s)
}

// newAnomalyID is the id of a new anomaly of the series key.
func (e *Engine) newAnomalyID(key string) anomaly.ID {
	if s := e.ids.Load(); s != nil {
		return (*s).Next(key)
	}
	return anomaly.ID(e.nextID.Add(1))
}

// NextAnomalyIDFor hands out the id of a new anomaly of the series with
// canonical key key (a peer outlier), from the engine's IDSpace when it has
// one and otherwise as NextAnomalyID does. Safe for concurrent use.
func (e *Engine) NextAnomalyIDFor(key string) anomaly.ID { return e.newAnomalyID(key) }
