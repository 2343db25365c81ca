// Package anomaly is the vocabulary every other package of the detector
// shares: samples, verdicts, anomaly states, timeline events and the error
// type with its codes. It imports the standard library only and holds no
// behaviour beyond formatting, so that any package may depend on it without
// dragging in another.
package anomaly
