package api

import (
	"context"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anomalyd/detector/anomaly"
)

// Ingest admission keeps CPU for the reads while ingest runs at full
// speed. Decoding a batch and applying it are CPU-bound: with as many
// ingest requests at work as cores, a verdict read (GET /api/v1/detect)
// waits for a core behind them, and its latency follows the batches'
// (measured on 2 cores: detect p99 from 0.5 ms idle to tens of ms). So the
// ingest routes (POST /api/v1/points, /api/v1/write, /api/v2/write,
// /write) decode and apply in at most AdmissionConfig.Slots requests at
// once, GOMAXPROCS-1 by default: one core's worth stays for the reads,
// which bypass admission. A few more ingest requests, their bodies read,
// may wait for a slot (Queue, each up to Wait); beyond that the
// answer is 429 overloaded with Retry-After at once, which every client
// of those routes retries. The ingest routes then take no MaxInFlight
// turn, so ingest never delays the POST reads (what-if, batch detect)
// either.

// AdmissionConfig bounds the ingest requests at work. Zero fields take the
// defaults of DefaultAdmissionConfig.
type AdmissionConfig struct {
	// Slots is the number of ingest requests decoded and applied at once.
	// Default GOMAXPROCS-1, at least 1. Negative: no ingest admission;
	// ingest requests share the Config.MaxInFlight turns of every POST.
	Slots int
	// Queue is the number of ingest requests, bodies read, that may wait
	// for a slot (each at most Wait); more get 429 at once.
	// Default 4 x GOMAXPROCS.
	Queue int
	// Wait bounds the time a request waits in the queue (its body is
	// already received: refusing it costs the client a resend). Default
	// 2 s.
	Wait time.Duration
}

// DefaultAdmissionConfig returns the admission `detector serve` runs with.
func DefaultAdmissionConfig() AdmissionConfig {
	s := max(1, runtime.GOMAXPROCS(0)-1)
	return AdmissionConfig{Slots: s, Queue: 4 * runtime.GOMAXPROCS(0), Wait: 2 * time.Second}
}

// admission is the ingest routes' gate. It is safe for concurrent use.
type admission struct {
	slots    chan struct{} // nil: admission off
	queue    int32
	wait     time.Duration
	waiting  atomic.Int32
	admitted prometheus.Counter
	queued   prometheus.Counter
	rejected prometheus.Counter
	inUse    prometheus.Gauge
}

func newAdmission(c AdmissionConfig, reg prometheus.Registerer) (*admission, error) {
	d := DefaultAdmissionConfig()
	if c.Slots == 0 {
		c.Slots = d.Slots
	}
	if c.Queue <= 0 {
		c.Queue = d.Queue
	}
	if c.Wait <= 0 {
		c.Wait = d.Wait
	}
	ad := &admission{queue: int32(c.Queue), wait: c.Wait}
	if c.Slots > 0 {
		ad.slots = make(chan struct{}, c.Slots)
	}
	total := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "detector_ingest_admissions_total",
		Help: "Ingest requests (JSON points, remote write, line protocol) by admission result: admitted at once, admitted after waiting for a slot (queued), rejected with 429.",
	}, []string{"result"})
	inUse := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "detector_ingest_slots_in_use",
		Help: "Ingest requests being decoded and applied now (at most --ingest-slots).",
	})
	if reg != nil {
		var err error
		if total, err = register(reg, total); err != nil {
			return nil, err
		}
		if inUse, err = register(reg, inUse); err != nil {
			return nil, err
		}
	}
	ad.admitted, ad.queued, ad.rejected = total.WithLabelValues("admitted"), total.WithLabelValues("queued"), total.WithLabelValues("rejected")
	ad.inUse = inUse
	return ad, nil
}

// on reports whether ingest admission is in force.
func (ad *admission) on() bool { return ad != nil && ad.slots != nil }

// acquire takes a slot, waiting at most the admission's wait less what
// the request already waited for its body reader turn (not at all when
// the queue is full). It returns the release function, or an overloaded
// error (429 with Retry-After).
func (ad *admission) acquire(ctx context.Context, waited time.Duration) (func(), error) {
	wait := ad.wait - waited
	select {
	case ad.slots <- struct{}{}:
		ad.admitted.Inc()
		return ad.releaser(), nil
	default:
	}
	if wait > 0 && ad.waiting.Add(1) <= ad.queue {
		t := time.NewTimer(wait)
		select {
		case ad.slots <- struct{}{}:
			t.Stop()
			ad.waiting.Add(-1)
			ad.queued.Inc()
			return ad.releaser(), nil
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		ad.waiting.Add(-1)
	} else if wait > 0 {
		ad.waiting.Add(-1)
	}
	ad.rejected.Inc()
	return nil, anomaly.Errorf(anomaly.CodeOverloaded,
		"%d ingest requests are being decoded and applied and up to %d wait at most %s, the limit (--ingest-slots, --ingest-queue, --ingest-wait): retry later",
		cap(ad.slots), ad.queue, ad.wait)
}

func (ad *admission) releaser() func() {
	ad.inUse.Inc()
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			ad.inUse.Dec()
			<-ad.slots
		}
	}
}

type ingestRouteKey struct{}

// ingestRoute marks the requests of h as ingest: admitBody takes an
// ingest slot for them instead of a MaxInFlight turn, and their decoding
// and applying run on Deps.IngestRun (runIngest).
func (a *API) ingestRoute(h http.Handler) http.Handler {
	if !a.admission.on() && a.deps.IngestRun == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ingestRouteKey{}, true)))
	})
}

// isIngest reports whether r came by an ingest route (ingestRoute).
func isIngest(r *http.Request) bool {
	on, _ := r.Context().Value(ingestRouteKey{}).(bool)
	return on
}

// runIngest runs f, the decoding and applying of request r with its body
// read and its turn taken: on Deps.IngestRun for an ingest route when it
// is set, else on the calling goroutine.
func (a *API) runIngest(r *http.Request, f func()) {
	if a.deps.IngestRun != nil && isIngest(r) {
		a.deps.IngestRun(f)
		return
	}
	f()
}

// turn takes what a request with its body read needs before it is
// decoded: an ingest slot on the ingest routes, else a MaxInFlight turn.
func (a *API) turn(r *http.Request, waited time.Duration) (func(), error) {
	if a.admission.on() && isIngest(r) {
		return a.admission.acquire(r.Context(), waited)
	}
	if err := a.acquireWithin(r.Context(), a.cfg.InFlightWait-waited); err != nil {
		return nil, err
	}
	var done atomic.Bool
	return func() {
		if done.CompareAndSwap(false, true) {
			<-a.inFlight
		}
	}, nil
}
