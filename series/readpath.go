package series

import "sync"

// Verdict reads that do not wait for a batch.
//
// A shard's goroutine holds mu for writing while it applies a run of up
// to applyYield points. A reader that took mu for reading waited for the
// rest of the run, and much longer whenever the operating system
// descheduled the shard's thread or the thread waited for a point
// observer's lock meanwhile: measured with an execution trace of the
// service during JSON ingest on the shared 2-core machine, a third of the
// verdict reads waited for the shard's lock, up to 5-10 ms, while the
// shard goroutine "ran" without making progress (docs/operations.md,
// "Reads under full ingest").
//
// So the single-series reads (Latest, Get, WhatIf) do not wait for mu
// when a batch holds it (readSlot). What they read is guarded twice:
//
//   - pub: the shard's structure (index, key arena, slot chunks, the
//     series' identity in its slot) and every write to slots outside the
//     apply loop. apply takes it for writing around series creation (and
//     so eviction); the other writers (sweeps, restore, feedback, drop)
//     take it with mu for their whole run (lockAll).
//   - stripes: apply locks the stripe of the slot it updates for the
//     point's update (model, anomaly, rules, last point), one uncontended
//     mutex per point.
//
// A reader that finds mu taken holds pub for reading and the stripe of
// its slot while it copies what it needs, so it waits at most for one
// point's update of a slot of the same stripe or for one series creation,
// never for the run. Lock order: mu, pub, stripe.

// readStripes is the number of slot stripes per shard: a read meets the
// slot being updated in 1 case in 256.
const readStripes = 256

// stripes guard the per-point slot updates of apply against the readers
// of readSlotApplying.
type stripes [readStripes]sync.Mutex

// stripe returns the mutex of slot idx's stripe.
func (sh *shard) stripe(idx int32) *sync.Mutex { return &sh.stripes[uint32(idx)%readStripes] }

// lockAll takes the shard for writing for a writer other than apply: mu,
// then pub.
func (sh *shard) lockAll() {
	sh.mu.Lock()
	sh.pub.Lock()
}

// unlockAll releases what lockAll took.
func (sh *shard) unlockAll() {
	sh.pub.Unlock()
	sh.mu.Unlock()
}

// readSlot finds k and runs f with its slot readable: under mu when no
// writer holds it, else under pub and the slot's stripe (apply is
// running). f must only read the slot (fields, model, rules, key) and must
// not keep the key's bytes. It reports whether k is live.
func (sh *shard) readSlot(k Key, f func(idx int32)) bool {
	if sh.mu.TryRLock() {
		defer sh.mu.RUnlock()
		idx, ok := sh.find(k)
		if ok {
			f(idx)
		}
		return ok
	}
	return sh.readSlotApplying(k, f)
}

// readSlotApplying is readSlot's path while mu is taken.
func (sh *shard) readSlotApplying(k Key, f func(idx int32)) bool {
	sh.pub.RLock()
	defer sh.pub.RUnlock()
	idx, ok := sh.find(k)
	if !ok {
		return false
	}
	m := sh.stripe(idx)
	m.Lock()
	defer m.Unlock()
	if sh.slot(idx).model.Points() == 0 {
		// Created by the batch being applied, its first point not yet
		// learned: under mu nobody sees such a slot, so neither does
		// this path.
		return false
	}
	f(idx)
	return true
}
