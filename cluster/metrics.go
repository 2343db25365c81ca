package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics counts what the forwarder does; nil-safe when no Registerer is
// configured.
type metrics struct {
	forwarded *prometheus.CounterVec // by outcome
	merged    *prometheus.CounterVec // by route and completeness
}

// Outcomes of a per-series request that this node does not own.
const (
	outcomeForwarded   = "forwarded"   // the owner answered (whatever its status)
	outcomeUnreachable = "unreachable" // 502
	outcomeTimeout     = "timeout"     // 504
	outcomeNoOwner     = "no_owner"    // 503 during a rebalance
	outcomeLoop        = "loop"        // 508, a second hop refused
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_cluster_requests_total",
			Help: "Per-series requests for a series another node owns, by outcome: forwarded, unreachable, timeout, no_owner (rebalance), loop (second hop refused).",
		}, []string{"outcome"}),
		merged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "detector_cluster_merged_total",
			Help: "Listings merged over every node, by route and whether a node's share was missing (partial).",
		}, []string{"route", "partial"}),
	}
	for _, o := range []string{outcomeForwarded, outcomeUnreachable, outcomeTimeout, outcomeNoOwner, outcomeLoop} {
		m.forwarded.WithLabelValues(o)
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.forwarded, m.merged} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.forwarded.WithLabelValues(o).Inc() }

func (m *metrics) merge(route string, partial bool) {
	p := "false"
	if partial {
		p = "true"
	}
	m.merged.WithLabelValues(route, p).Inc()
}
