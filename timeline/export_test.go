package timeline

// LiveOrder is the number of live entries in m's order (tests of
// compaction).
func LiveOrder(m *Memory) int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.order) - m.dead
}
