package models

// dayAt is where a timestamp falls in the daily profile and the week,
// computed once per point (scoring and learning both need it).
type dayAt struct {
	b0, b1 int     // the interpolation buckets (dayPos)
	w      float64 // the weight of b1
	wd     int     // the weekday, 0 for Monday (weekday)
}

// posAt returns dayPos and weekday of tsMs from one division.
func posAt(tsMs int64) dayAt {
	d := tsMs / dayMs
	ms := tsMs - d*dayMs
	if ms < 0 {
		ms += dayMs
		d--
	}
	pos := float64(ms)/binMs - 0.5
	// floor(pos), -1 .. 23, in integers: pos = (ms - binMs/2) / binMs lies
	// at least 1/binMs from the next integer below one, far beyond the
	// rounding of the division, so the two floors agree.
	f := (ms+binMs/2)/binMs - 1
	var p dayAt
	p.w = pos - float64(f)
	p.b0 = int(f)
	if p.b0 < 0 {
		p.b0 += dayBins
	}
	p.b1 = p.b0 + 1
	if p.b1 == dayBins {
		p.b1 = 0
	}
	wd := (d + 3) % 7
	if wd < 0 {
		wd += 7
	}
	p.wd = int(wd)
	return p
}

// profileAt is profile at the position p.
func (m *Model) profileAt(p *dayAt) float64 {
	s := ((1-p.w)*float64(m.day[p.b0])+p.w*float64(m.day[p.b1]))*stepOf(m.dayExp) + float64(m.dayOff)
	return s + m.dowOffset(p.wd)
}
