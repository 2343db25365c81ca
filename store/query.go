package store

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/anomalyd/detector/anomaly"
	"github.com/anomalyd/detector/timeline"
)

// candidate is an in-memory anomaly that matches a query.
type candidate struct {
	key orderKey
	e   *entry
}

// topK keeps the k candidates with the largest keys seen so far, in a
// min-heap on key.
type topK struct {
	k int
	h []candidate
}

func (t *topK) less(i, j int) bool { return bytes.Compare(t.h[i].key[:], t.h[j].key[:]) < 0 }

func (t *topK) push(c candidate) {
	if len(t.h) < t.k {
		t.h = append(t.h, c)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.less(i, p) {
				break
			}
			t.h[i], t.h[p] = t.h[p], t.h[i]
			i = p
		}
		return
	}
	if bytes.Compare(c.key[:], t.h[0].key[:]) <= 0 {
		return
	}
	t.h[0] = c
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.less(l, m) {
			m = l
		}
		if r < len(t.h) && t.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		t.h[i], t.h[m] = t.h[m], t.h[i]
		i = m
	}
}

// sorted returns the candidates, largest key first.
func (t *topK) sorted() []candidate {
	slices.SortFunc(t.h, func(a, b candidate) int { return bytes.Compare(b.key[:], a.key[:]) })
	return t.h
}

// Query returns the anomalies that match q, newest first, with the
// filters, limits, errors and cursor of timeline.Memory.Query:
//
//   - Series: exact match on the series text;
//   - Since, Until: the anomaly's interval overlaps [Since, Until): it
//     started before Until and is open or ended at or after Since;
//   - State: "open" or "resolved".
//
// It walks the by_start index (by_series with a series filter) backwards
// from min(cursor, Until), decoding only the records it returns, and
// merges the anomalies held in memory (open, or with unwritten changes),
// whose in-memory state wins over the file's. With Since, the walk stops
// at Since minus the longest duration of any resolved anomaly: older
// entries can only match while open, and every open anomaly is in memory.
//
// Like timeline.Memory, Query holds the store's read lock while it reads,
// so Record waits for it: a page costs the open anomalies (a map walk)
// plus the index entries walked.
func (s *Store) Query(ctx context.Context, q anomaly.TimelineQuery) (anomaly.AnomalyPage, error) {
	if err := ctx.Err(); err != nil {
		return anomaly.AnomalyPage{}, err
	}
	wantOpen, wantResolved, limit, err := timeline.CheckQuery(q)
	if err != nil {
		return anomaly.AnomalyPage{}, err
	}
	hi := orderKey{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	if q.Cursor != "" {
		if hi, err = decodeCursor(q.Cursor); err != nil {
			return anomaly.AnomalyPage{}, err
		}
	}
	if !q.Until.IsZero() {
		if u := makeOrderKey(q.Until, 0); bytes.Compare(u[:], hi[:]) < 0 {
			hi = u
		}
	}
	hasSince, sinceNs := !q.Since.IsZero(), q.Since.UnixNano()
	match := func(resolved bool, endNs int64) bool {
		if resolved {
			return wantResolved && (!hasSince || endNs >= sinceNs)
		}
		return wantOpen
	}

	// The lock keeps the in-memory entries and the file consistent with
	// each other for the whole read: the writer forgets an entry only
	// after its last change is committed, and it needs the write lock to
	// forget it.
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return anomaly.AnomalyPage{}, errClosed
	}
	top := topK{k: limit + 1}
	for id, e := range s.live {
		if q.Series != "" && e.A.Series != q.Series {
			continue
		}
		if !match(!e.Open(), e.End.UnixNano()) {
			continue
		}
		k := makeOrderKey(e.A.StartedAt, id)
		if bytes.Compare(k[:], hi[:]) < 0 {
			top.push(candidate{k, e})
		}
	}
	mem := top.sorted()

	page := anomaly.AnomalyPage{Anomalies: []anomaly.Anomaly{}}
	if !wantResolved {
		// Every open anomaly is in memory: the file adds nothing.
		for i, c := range mem {
			if i == limit {
				last := page.Anomalies[limit-1]
				page.NextCursor = timeline.EncodeCursor(last.StartedAt, last.ID)
				break
			}
			page.Anomalies = append(page.Anomalies, c.e.Anomaly())
		}
		return page, nil
	}
	err = s.view(func(tx *bolt.Tx) error {
		var (
			idx    *bolt.Bucket
			prefix []byte
		)
		if q.Series != "" {
			idx, prefix = tx.Bucket(bucketBySeries), seriesPrefix(nil, q.Series)
		} else {
			idx = tx.Bucket(bucketByStart)
		}
		// Entries starting before floor cannot match unless open.
		var floor orderKey
		if hasSince {
			if d := s.maxDur.Load(); d < math.MaxInt64/2 {
				floor = makeOrderKey(q.Since.Add(-time.Duration(d)), 0)
			}
		}
		recs := tx.Bucket(bucketAnomalies)
		c := idx.Cursor()
		k, v := c.Seek(append(slices.Clip(prefix), hi[:]...))
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		scanned := 0
		// next returns the next matching entry of the file below hi.
		next := func() (orderKey, bool, error) {
			for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
				if scanned++; scanned&1023 == 0 {
					if err := ctx.Err(); err != nil {
						return orderKey{}, false, err
					}
				}
				resolved, endNs, _, ok := parseIndexValue(v)
				if len(k) != len(prefix)+len(orderKey{}) || !ok {
					return orderKey{}, false, fmt.Errorf("%w: index entry %x", errCorrupt, k)
				}
				key := orderKey(k[len(prefix):])
				if bytes.Compare(key[:], floor[:]) < 0 {
					return orderKey{}, false, nil
				}
				if _, held := s.live[key.id()]; held || !match(resolved, endNs) {
					continue
				}
				k, v = c.Prev()
				return key, true, nil
			}
			return orderKey{}, false, nil
		}
		dk, dOK, err := next()
		if err != nil {
			return err
		}
		mi := 0
		for dOK || mi < len(mem) {
			if len(page.Anomalies) == limit {
				last := page.Anomalies[limit-1]
				page.NextCursor = timeline.EncodeCursor(last.StartedAt, last.ID)
				return nil
			}
			if mi < len(mem) && (!dOK || bytes.Compare(mem[mi].key[:], dk[:]) > 0) {
				page.Anomalies = append(page.Anomalies, mem[mi].e.Anomaly())
				mi++
				continue
			}
			r, err := loadRecord(recs, dk.id())
			if err != nil {
				return err
			}
			page.Anomalies = append(page.Anomalies, r.Anomaly())
			if dk, dOK, err = next(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return anomaly.AnomalyPage{}, err
	}
	return page, nil
}
