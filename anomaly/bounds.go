package anomaly

// BoundRule is a user-set rule judged next to the learned baselines of the
// series it matches: a static floor and ceiling, or a ceiling that is a
// share of a limit series, and/or a time zone for the daily and weekly
// profile. See package series (rules.go) for what each part does.
type BoundRule struct {
	// ID names the rule; the store gives it out.
	ID string `json:"id"`
	// Match is a series selector ({job="db"}, conn_used{pool=~"a.*"}).
	Match string `json:"match"`
	// Min and Max are a static floor and ceiling (either or both).
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Limit is a selector of the limit series: a matching series is
	// anomalous above Ratio times the latest value of its limit series,
	// the one with the same values of the On labels.
	Limit string   `json:"limit,omitempty"`
	On    []string `json:"on,omitempty"`
	Ratio float64  `json:"ratio,omitempty"`
	// Timezone is an IANA zone name for the series' daily and weekly
	// profile, overriding the service's --timezone.
	Timezone string `json:"timezone,omitempty"`
}
