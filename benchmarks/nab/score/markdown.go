package score

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Markdown renders the report: the scores of every profile with their
// thresholds, then for each profile the per-category and per-file breakdown
// (raw score, windows detected (TP), missed (FN), false-positive rows (FP)).
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Files: %d, rows: %d (%d scored after probation), anomaly windows scored: %d.\n\n",
		r.Files, r.Rows, r.Scorable, r.Windows)
	b.WriteString("| profile | score | threshold | raw | null | perfect | TP | FN | FP |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range r.Profiles {
		fmt.Fprintf(&b, "| %s | %s | %s | %.3f | %.3f | %.3f | %d | %d | %d |\n",
			p.Name, fmtScore(p.Score), fmtThreshold(p.Threshold), p.Raw, p.Null, p.Perfect, p.Total.TP, p.Total.FN, p.Total.FP)
	}
	b.WriteString("\nTP and FN count windows (detected or missed at the profile's threshold); FP counts detections outside every window.\n")
	for _, p := range r.Profiles {
		fmt.Fprintf(&b, "\n## %s (threshold %s, score %s)\n\n", p.Name, fmtThreshold(p.Threshold), fmtScore(p.Score))
		b.WriteString("| category | files | windows | raw | TP | FN | FP |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, c := range p.Categories {
			writeRow(&b, c)
		}
		writeRow(&b, p.Total)
		b.WriteString("\n| file | windows | raw | TP | FN | FP |\n")
		b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
		for _, f := range p.Files {
			fmt.Fprintf(&b, "| %s | %d | %.3f | %d | %d | %d |\n", f.Key, f.Windows, f.Raw, f.TP, f.FN, f.FP)
		}
	}
	return b.String()
}

func writeRow(b *strings.Builder, c Result) {
	fmt.Fprintf(b, "| %s | %d | %d | %.3f | %d | %d | %d |\n", c.Key, c.Files, c.Windows, c.Raw, c.TP, c.FN, c.FP)
}

func fmtScore(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", s)
}

func fmtThreshold(t float64) string {
	if t == NoDetection {
		return "1.1 (none)"
	}
	return ThresholdText(t)
}

// ThresholdText formats a threshold with 6 significant digits, or all of
// them when 6 would round it to 1 (detectors often saturate near 1).
func ThresholdText(t float64) string {
	s := fmt.Sprintf("%.6g", t)
	if s == "1" && t != 1 {
		s = strconv.FormatFloat(t, 'g', -1, 64)
	}
	return s
}
