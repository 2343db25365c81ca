// Package history keeps the recent points and verdicts of some series, so
// that the console can draw the hours before and during an anomaly, within
// a fixed memory budget.
//
// The engine hands every learned point to Store.Observe (a
// series.PointObserver). A series has a ring of at most Config.Points
// entries of 40 bytes (timestamp, value, expected, bounds, score, state,
// detector, anomaly id). Which series get a ring:
//
//   - every series, while the store is under its budget (a fleet that fits
//     is recorded in full, including the hours before any anomaly);
//   - once the budget is reached, only series whose point is anomalous or
//     belongs to an open anomaly, and series someone looked at (Get), which
//     push out the least recently useful ring.
//
// "Useful" is an anomalous point or a read: those move a ring to the front
// of the LRU; a normal point only appends to an existing ring. So at a
// million series and a small budget the rings go to the series in trouble
// and the ones operators watch; the others cost one striped map lookup per
// point and nothing else.
//
// Memory is accounted per ring as its capacity times the entry size plus a
// fixed overhead for the key, the map and the LRU entry; the store evicts
// until the total is under Config.Bytes. Safe for concurrent use.
package history
