// Package remediate answers anomaly and peer-outlier events with actions
// (an HTTP call, or a local command from the configuration file) inside
// hard safety limits, and records every decision.
//
// A decision passes these stages, in order; the first that refuses records
// the action as suppressed with the cap's name:
//
//   - match: the rule's events, series selector or peer-group rule,
//     detector, minimum score and minimum duration; each (rule, anomaly)
//     pair is decided once, also when the event log delivers an event again;
//   - kill_switch: the API's switch, the --remediation-kill-switch flag, or
//     the presence of the kill file;
//   - cooldown: the least time between two actions on one series;
//   - rule_max_per_hour and global_max_per_hour: actions in any hour, per
//     rule and for the whole service;
//   - group_fraction: the share of a peer group acted on within the rule's
//     group window (default 10%, at least one member);
//   - group_last_healthy: an action must leave at least
//     min_healthy_fraction of the group (default half, at least one member)
//     neither outlying nor acted on;
//
// then dry run (the default: the rendered request is recorded, nothing is
// called), approval (pending until approved, or expired), or the call,
// retried with a doubling pause and recorded as executed or failed.
//
// Dry-run decisions count against the caps of dry runs only, so a rule
// shows in dry run what it would do live. Pending actions hold their place
// in the caps until they expire. The caps' memory (past actions, decided
// pairs, pending actions, the API's kill switch) and the rules live in a
// bbolt state file; every change is one fsynced transaction, so caps hold
// across restarts.
package remediate
