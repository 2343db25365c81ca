// Package peers finds the member of a peer group that behaves unlike its
// peers: one server of a cluster, one device family of a title, one bitrate
// of an encode, while every series may still look plausible on its own.
//
// A Rule selects series (a metric name or a Prometheus selector), groups
// them by the values of some labels (GroupBy) and tells the members of a
// group apart by another label (Member, or all remaining labels). The Store
// receives accepted samples (Observe) and keeps, for each matched series, a
// ring of its last value per step (float32, Window + 1 slots). Evaluate
// (on demand, or every interval from Run) judges each group over the last
// Window complete steps, stores the results for Results, and opens and
// resolves timeline events of kind anomaly.KindPeerOutlier. DetectMembers
// is the same judgement over windows the caller supplies.
//
// # The judgement of one group
//
//  1. Window: each member's values over the window, step-aligned (buckets
//     of Step since the Unix epoch, last value per bucket). Gaps are filled:
//     interpolated linearly between known steps, the first known value
//     carried back to the start and the last one forward to the end. A
//     member with data for fewer than MinCoverage (half) of the steps is
//     skipped ("too little data: 12 of 30 steps"); a group with fewer than
//     MinMembers judged members (default 3) is skipped and says so.
//  2. Scale (Rule.Scale, DetectRequest.Scale): what members are compared
//     by. On ScaleMember each member's window is first divided by its own
//     level: its median |x| over the window, then refined by its median
//     ratio to the step-wise median of the members so divided (a level
//     that a step shared by the whole group, a premiere, cannot move). A
//     member ten times the size of its peers then looks like them; one
//     that falls to 0.4 of its own level does not. ScaleAuto (the default)
//     takes ScaleMember when the bulk of the members' levels (leaving out
//     the largest and smallest tenth, at least one each) spans a factor of
//     at least AutoScaleSpread (2), ScaleGroup otherwise: members alike in
//     size keep the group scale, and a lone member of another size is
//     still flagged for it. On the member scale a change is seen for about
//     a window: once it fills the window it is the member's own level.
//     Then, on either scale, the group's scale S is
//     the median of |x| over all members and steps (the typical level);
//     when that is 0 (mostly zeros) the MAD of the values, then the largest
//     |x|, then 1. Features are x / (S √w), so the Euclidean distance
//     between two members is their RMS difference over the window relative
//     to the group's level (on ScaleMember: to their own levels): 0.1 means
//     10%. Groups of different magnitudes (requests per second and bytes)
//     thus compare, and one eps means the same thing in all of them.
//     Lag: each member is shifted by the lag of at most 2 steps (a tenth of
//     the window) that best matches the median series when that removes
//     at least 30% of its mean squared difference; the steps shifted in
//     count as gaps. Gaps: distances leave out the steps where either
//     member had no data (scaled up to the whole window), so a member is
//     judged on what it has, not on the filled values (groups judged
//     through the distance matrix, up to 2048 members; larger ones use the
//     filled values).
//  3. DBSCAN (algorithms/dbscan) over the members, with a full distance
//     matrix for groups of up to 2048 members and a kd-tree above.
//     min_pts, when 0, is a tenth of the judged members, at least 2 and at
//     most 5. eps, when not given, is tolerance (default 3) times the median
//     k-distance (k = min_pts), and at least MinEps = 0.01: healthy members
//     are each other's neighbours at their typical spacing, and a member
//     whose nearest peers are more than tolerance times farther than that is
//     noise. The median ignores up to half the members being odd, and the
//     rule works for groups of 3; the knee of the k-distance curve does not
//     (too few points to find it). The floor keeps members within 1% of each
//     other (rounding, jitter of identical members) from being told apart.
//  4. Verdict: a cluster is large when it holds at least BandFraction (20%)
//     of the judged members and at least min_pts. With one large cluster,
//     every member outside it (noise or a small cluster) is an outlier. With
//     several, the group has bands, several healthy behaviours (two
//     bitrates, two hardware generations): no band is flagged, only the
//     members outside all bands. When no cluster is large, or the large
//     clusters hold fewer than half the members, the group has no common
//     behaviour to compare with and is skipped with that reason.
//  5. Explanation: each member's difference from the group's median series
//     (the step-wise median over the members), r_t = (x_t - median_t) / S.
//     Distance is its RMS (over the steps with data). The span where it
//     differs most (DiffFrom..DiffTo) is the run of steps where |r| exceeds
//     max(2 × the group's median |r|, ¼ × the member's largest |r|) by the
//     largest total. On ScaleGroup the reason names a drift (the
//     difference grows along a line, one-sided), a level ("level 2.3x the
//     group median over the last 12 steps") or a shape ("shape differs
//     from the group median in steps 18-25 of 0-29"). On ScaleMember it
//     speaks of the member's own level: a span inside the window is a dip
//     or a bump ("rose to 1.8x its own level in steps 10-14 of 0-29 while
//     its peers held"); a span at an end is a change, found by fitting the
//     member's ratio to the median series with a step and with a bend
//     (level, then a line) at the best step c: "fell to 0.4x its own level
//     over the last 10 steps while its peers held" (or "while its peers
//     went to 0.8x"), "drifts down from its peers over the last 20 steps:
//     from 1x to 0.5x its own level", and DiffFrom..DiffTo become c..w-1.
//
// # Events
//
// An outlier opens an event (anomaly id from Options.NextID, so ids are
// shared with point anomalies) the first evaluation it is flagged in, gets
// an updated event at each further evaluation that still flags it, and a
// resolved event at the first that does not (back in a cluster, skipped,
// evicted, or its rule deleted). The verdict of an event carries the
// member's last value, the group median's last value as Expected, the range
// of the healthy members' last values as Lower and Upper (on ScaleMember
// all three times the member's own level: what it would read if it behaved
// like its peers), and Distance/eps as Score.
//
// # Concurrency and memory
//
// Series windows are striped over Options.Shards mutexes by the hash of
// the series text; Observe groups a batch by shard and takes each lock
// once. State is pointer-free slices (rings, entries, links) so that the
// garbage collector does not scan a million series. Evaluate copies each
// member's window under its shard's lock, so ingest never waits for more
// than one copy.
package peers
