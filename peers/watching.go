package peers

// Watching reports whether any rule is set, that is whether Observe and
// ObserveKeys may keep anything of the points they are given. The write
// path asks it before each batch so that, with no rule, it does not ask the
// engine for the points' keys at all.
func (s *Store) Watching() bool {
	rs := s.snap.Load()
	return rs != nil && len(rs.rules) > 0
}
