package cluster

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/peers"
	"github.com/anomalyd/detector/series"
	"github.com/anomalyd/detector/timeline"
)

// maxShareBytes bounds one member's answer to a fan-out.
const maxShareBytes = 64 << 20

// SeriesPage is the answer of GET /api/v1/series on a cluster: the page a
// single node gives (series, next_cursor), plus whether a member's share
// is missing from it. A partial page's next_cursor still resumes every
// member that answered; the series of the missing members up to that
// position are not in this page nor in the next ones.
type SeriesPage struct {
	anomaly.SeriesPage
	Partial bool            `json:"partial"`
	Missing []MissingMember `json:"missing,omitempty"`
}

// OutlierList is the answer of GET /api/v1/peers/outliers on a cluster:
// every member's groups of the rule, by group, plus partial and missing
// as in SeriesPage.
type OutlierList struct {
	Groups  []peers.GroupResult `json:"groups"`
	Partial bool                `json:"partial"`
	Missing []MissingMember     `json:"missing,omitempty"`
}

// MissingMember is a member whose share of a merged answer is missing:
// its URL, the status it answered (0 when it did not answer) and why.
type MissingMember struct {
	Member string `json:"member"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error"`
}

// share is one member's answer to a fan-out.
type share struct {
	member string
	local  bool
	status int
	header http.Header
	body   []byte
	err    error
}

func (s *share) ok() bool { return s.err == nil && s.status >= 200 && s.status < 300 }

// missing describes a failed share.
func (s *share) missing() MissingMember {
	m := MissingMember{Member: s.member, Status: s.status}
	switch {
	case s.err != nil:
		m.Error = s.err.Error()
	default:
		var eb errorBody
		if json.Unmarshal(s.body, &eb) == nil && eb.Error.Message != "" {
			m.Error = eb.Error.Code + ": " + eb.Error.Message
		} else {
			m.Error = http.StatusText(s.status)
		}
	}
	return m
}

// members returns every member, this node included, this node first.
func (f *Forwarder) members() []string {
	self := f.dir.Self()
	out := []string{self}
	for _, m := range f.dir.Members() {
		if !sameNode(m, self) && !slices.ContainsFunc(out, func(o string) bool { return sameNode(o, m) }) {
			out = append(out, m)
		}
	}
	return out
}

// gather sends r (with body, nil for none) to members at once: this node
// through next, the others over HTTP with HopHeader, each within Timeout.
func (f *Forwarder) gather(r *http.Request, next http.Handler, body []byte, members []string) []share {
	shares := make([]share, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		shares[i].member = m
		if sameNode(m, f.dir.Self()) {
			shares[i].local = true
			wg.Go(func() { f.local(r, next, body, &shares[i]) })
			continue
		}
		wg.Go(func() { f.remote(r, body, &shares[i]) })
	}
	wg.Wait()
	return shares
}

// local serves r through next into s.
func (f *Forwarder) local(r *http.Request, next http.Handler, body []byte, s *share) {
	lr := r.Clone(r.Context())
	lr.Header.Set(HopHeader, f.dir.Self())
	if body != nil {
		lr.Body = io.NopCloser(bytes.NewReader(body))
		lr.ContentLength = int64(len(body))
	}
	rec := &recorder{header: http.Header{}}
	next.ServeHTTP(rec, lr)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	s.status, s.header, s.body = rec.status, rec.header, rec.buf.Bytes()
}

// remote sends r to member m into s.
func (f *Forwarder) remote(r *http.Request, body []byte, s *share) {
	ctx, cancel := context.WithTimeout(r.Context(), f.cfg.Timeout)
	defer cancel()
	u := strings.TrimSuffix(s.member, "/") + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, rd)
	if err != nil {
		s.err = err
		return
	}
	for k, vs := range r.Header {
		if hopByHop(k) {
			continue
		}
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Host = r.Host // the owner applies the client's node's Host and Origin checks
	req.Header.Set(HopHeader, f.dir.Self())
	resp, err := f.client.Do(req)
	if err != nil {
		s.err = fmt.Errorf("did not answer: %w", err)
		if ctx.Err() != nil && r.Context().Err() == nil {
			s.err = fmt.Errorf("did not answer within %v", f.cfg.Timeout)
		}
		return
	}
	defer resp.Body.Close()
	s.status, s.header = resp.StatusCode, resp.Header
	if s.body, err = io.ReadAll(io.LimitReader(resp.Body, maxShareBytes+1)); err != nil {
		s.err = fmt.Errorf("answer cut short: %w", err)
	} else if len(s.body) > maxShareBytes {
		s.err = fmt.Errorf("answer is over %d bytes", maxShareBytes)
	}
}

func hopByHop(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Accept-Encoding", HopHeader:
		return true
	}
	return false
}

// recorder is a ResponseWriter that keeps the answer.
type recorder struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.buf.Write(b)
}

// relay answers with one share as it came.
func relay(w http.ResponseWriter, s *share) {
	if s.err != nil {
		writeError(w, http.StatusBadGateway, "member_unreachable", fmt.Sprintf("member %s %v", s.member, s.err), "")
		return
	}
	copyHeader(w.Header(), s.header)
	w.WriteHeader(s.status)
	w.Write(s.body)
}

// copyHeader copies an answer's headers but its framing.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Transfer-Encoding", "Connection", "Date":
			continue
		}
		dst[k] = vs
	}
}

// limit returns the page size of a listing as the API computes it, and
// false when the parameter is invalid (the API then answers 400).
func (f *Forwarder) limit(r *http.Request) (int, bool) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return f.cfg.DefaultLimit, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	if n == 0 {
		return f.cfg.DefaultLimit, true
	}
	return min(n, f.cfg.MaxLimit), true
}

// listSeries fans GET /api/v1/series out to every member and merges the
// pages in the order one node uses (series.SummaryOrder). Every member
// gets the client's cursor: a position in that order, which each member
// resumes after; the merged page's next_cursor is the position of its
// last series, in the format of a single node's cursor.
func (f *Forwarder) listSeries(w http.ResponseWriter, r *http.Request, next http.Handler) {
	by := r.URL.Query().Get("sort")
	order, err := series.SummaryOrder(by)
	limit, ok := f.limit(r)
	if err != nil || !ok {
		next.ServeHTTP(w, r) // the API's own 400
		return
	}
	shares := f.gather(r, next, nil, f.members())
	if s := &shares[0]; !s.ok() && s.err == nil && s.status >= 400 && s.status < 500 {
		relay(w, s) // the request's fault: a bad matcher or cursor
		return
	}
	all, more, answered, missing := mergePages(shares, func(p *anomaly.SeriesPage) ([]anomaly.SeriesSummary, string) {
		return p.Series, p.NextCursor
	})
	if answered == nil {
		relay(w, &shares[0])
		return
	}
	slices.SortStableFunc(all, order)
	// During a rebalance a series may be held by its old and its new
	// owner for a moment: list it once.
	all = slices.CompactFunc(all, func(a, b anomaly.SeriesSummary) bool { return a.Series == b.Series })
	page := SeriesPage{SeriesPage: anomaly.SeriesPage{Series: all}, Missing: missing, Partial: len(missing) > 0}
	if len(all) > limit {
		page.Series, more = all[:limit], true
	}
	if more && len(page.Series) > 0 {
		page.NextCursor = series.CursorAfter(by, page.Series[len(page.Series)-1])
	}
	if page.Series == nil {
		page.Series = []anomaly.SeriesSummary{}
	}
	f.m.merge("/api/v1/series", page.Partial)
	f.answerMerged(w, answered, page, page.Partial)
}

// listOutliers fans GET /api/v1/peers/outliers out: each group lives on
// the node that owns its partition, so the answer is every member's
// groups, ordered by rule and group. A member that does not know the rule
// (404) adds nothing; the answer is 404 only when no member knows it.
func (f *Forwarder) listOutliers(w http.ResponseWriter, r *http.Request, next http.Handler) {
	shares := f.gather(r, next, nil, f.members())
	if s := &shares[0]; !s.ok() && s.err == nil && s.status >= 400 && s.status < 500 && s.status != http.StatusNotFound {
		relay(w, s)
		return
	}
	var (
		out      OutlierList
		answered *share
	)
	for i := range shares {
		s := &shares[i]
		var l OutlierList
		if s.ok() {
			if err := json.Unmarshal(s.body, &l); err != nil {
				s.err = fmt.Errorf("answered a list that is not JSON: %v", err)
			}
		}
		if s.err == nil && s.status == http.StatusNotFound {
			continue
		}
		if !s.ok() {
			out.Missing = append(out.Missing, s.missing())
			continue
		}
		if answered == nil {
			answered = s
		}
		out.Groups = append(out.Groups, l.Groups...)
	}
	if answered == nil {
		relay(w, &shares[0])
		return
	}
	slices.SortStableFunc(out.Groups, func(a, b peers.GroupResult) int {
		return cmp.Or(strings.Compare(a.Rule, b.Rule), strings.Compare(a.Group, b.Group))
	})
	if out.Groups == nil {
		out.Groups = []peers.GroupResult{}
	}
	out.Partial = len(out.Missing) > 0
	f.m.merge("/api/v1/peers/outliers", out.Partial)
	f.answerMerged(w, answered, out, out.Partial)
}

// answerMerged writes a merged answer with the headers of one member's
// answer (CORS, content type).
func (f *Forwarder) answerMerged(w http.ResponseWriter, like *share, v any, partial bool) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "encoding the merged answer: "+err.Error(), "")
		return
	}
	copyHeader(w.Header(), like.header)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set(PartialHeader, strconv.FormatBool(partial))
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// addPeerRule checks a new peer rule against the key labels (CheckPeerRule)
// and, when it passes, creates it on every member.
func (f *Forwarder) addPeerRule(w http.ResponseWriter, r *http.Request, next http.Handler, hop bool) {
	body, ok := f.peek(w, r)
	if !ok {
		return
	}
	var rule peers.Rule
	if err := json.Unmarshal(body, &rule); err != nil {
		next.ServeHTTP(w, r) // the API's own 400
		return
	}
	if err := CheckPeerRule(rule, f.cfg.KeyLabels); err != nil {
		var ae *anomaly.Error
		if errors.As(err, &ae) {
			writeErrorField(w, http.StatusBadRequest, string(ae.Code), ae.Message, ae.Field)
		} else {
			writeError(w, http.StatusBadRequest, "invalid_argument", err.Error(), "")
		}
		return
	}
	if hop {
		next.ServeHTTP(w, r)
		return
	}
	f.broadcast(w, r, next, body, http.StatusConflict)
}

// broadcast applies a change (a peer rule created or deleted) on this node,
// then on every other member. already is the status a member answers when
// it has the change already (409 for a create, 404 for a delete): that
// counts as done. The answer is this node's; members that failed are named
// in PartialHeader's companion X-Detector-Missing and logged.
func (f *Forwarder) broadcast(w http.ResponseWriter, r *http.Request, next http.Handler, body []byte, already int) {
	if body == nil && r.Method != http.MethodDelete {
		var ok bool
		if body, ok = f.peek(w, r); !ok {
			return
		}
	}
	self := f.dir.Self()
	var local share
	local.member, local.local = self, true
	f.local(r, next, body, &local)
	if !local.ok() && local.status != already {
		relay(w, &local)
		return
	}
	others := f.members()[1:]
	shares := f.gather(r, next, body, others)
	var failed []string
	done := local.ok()
	for i := range shares {
		s := &shares[i]
		switch {
		case s.ok():
			done = true
		case s.err == nil && s.status == already:
		default:
			m := s.missing()
			failed = append(failed, s.member)
			f.log.Warn("a member did not take a peer rule change", "member", s.member, "method", r.Method,
				"path", r.URL.Path, "status", m.Status, "error", m.Error)
		}
	}
	if !done {
		relay(w, &local) // nobody had it, or everybody had it already
		return
	}
	if !local.ok() {
		// This node had it already; another member took it.
		for i := range shares {
			if shares[i].ok() {
				local = shares[i]
				break
			}
		}
	}
	w.Header().Set(PartialHeader, strconv.FormatBool(len(failed) > 0))
	if len(failed) > 0 {
		w.Header().Set("X-Detector-Missing", strings.Join(failed, ", "))
	}
	relay(w, &local)
}

// AnomalyPage is the answer of GET /api/v1/anomalies on a cluster: the
// page a single node gives (anomalies newest first, next_cursor), plus
// partial and missing as in SeriesPage.
type AnomalyPage struct {
	anomaly.AnomalyPage
	Partial bool            `json:"partial"`
	Missing []MissingMember `json:"missing,omitempty"`
}

// listAnomalies fans GET /api/v1/anomalies out and merges the pages newest
// first, as one timeline orders them (start time, then id, descending).
// Each node's timeline holds the anomalies of the series it owned when they
// happened, so every member is asked; every member gets the client's
// cursor, a position in that order (timeline.EncodeCursor).
func (f *Forwarder) listAnomalies(w http.ResponseWriter, r *http.Request, next http.Handler) {
	limit, ok := f.limit(r)
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	limit = min(limit, timeline.MaxLimit)
	shares := f.gather(r, next, nil, f.members())
	if s := &shares[0]; !s.ok() && s.err == nil && s.status >= 400 && s.status < 500 {
		relay(w, s) // a bad filter or cursor
		return
	}
	all, more, answered, missing := mergePages(shares, func(p *anomaly.AnomalyPage) ([]anomaly.Anomaly, string) {
		return p.Anomalies, p.NextCursor
	})
	if answered == nil {
		relay(w, &shares[0])
		return
	}
	slices.SortStableFunc(all, func(a, b anomaly.Anomaly) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	page := AnomalyPage{AnomalyPage: anomaly.AnomalyPage{Anomalies: all}, Missing: missing, Partial: len(missing) > 0}
	if len(all) > limit {
		page.Anomalies, more = all[:limit], true
	}
	if more && len(page.Anomalies) > 0 {
		last := page.Anomalies[len(page.Anomalies)-1]
		page.NextCursor = timeline.EncodeCursor(last.StartedAt, last.ID)
	}
	if page.Anomalies == nil {
		page.Anomalies = []anomaly.Anomaly{}
	}
	f.m.merge("/api/v1/anomalies", page.Partial)
	f.answerMerged(w, answered, page, page.Partial)
}

// mergePages decodes the members' pages of one listing: every item of
// the pages that answered, whether any of them has more, the first member
// that answered and the members that did not (a failed or non-JSON
// answer).
func mergePages[P, T any](shares []share, items func(*P) ([]T, string)) (all []T, more bool, answered *share, missing []MissingMember) {
	for i := range shares {
		s := &shares[i]
		var p P
		if s.ok() {
			if err := json.Unmarshal(s.body, &p); err != nil {
				s.err = fmt.Errorf("answered a page that is not JSON: %v", err)
			}
		}
		if !s.ok() {
			missing = append(missing, s.missing())
			continue
		}
		if answered == nil {
			answered = s
		}
		page, next := items(&p)
		all = append(all, page...)
		more = more || next != ""
	}
	return all, more, answered, missing
}
