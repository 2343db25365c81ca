package eventlog

import (
	"context"
	"time"
)

// Handler handles one batch of entries, in sequence order. Returning nil
// moves the subscriber's cursor past the batch; returning an error leaves
// it where it was and the batch is offered again after a pause.
type Handler func(ctx context.Context, batch []Entry) error

// RunOptions tune Run. Zero fields take the defaults in their comments.
type RunOptions struct {
	// Batch is the most entries handed to the handler at once; default 256.
	Batch int
	// RetryDelay is the pause after a failed batch; default 1s.
	RetryDelay time.Duration
	// OnLag, when set, is told the subscriber's lag (log.Last minus the
	// cursor) after every batch, for a metric.
	OnLag func(lag uint64)
}

// Run feeds the subscriber name from its saved cursor until ctx ends, on
// the calling goroutine (start it with go). It returns ctx's error, or the
// error of loading the cursor.
func Run(ctx context.Context, log Log, cursors Cursors, name string, h Handler, o RunOptions) error {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	cur, err := cursors.Load(name)
	if err != nil {
		return err
	}
	for {
		if err := log.Wait(ctx, cur); err != nil {
			return err
		}
		batch, err := log.Read(ctx, cur, o.Batch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			continue
		}
		if err := h(ctx, batch); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case <-time.After(o.RetryDelay):
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		cur = batch[len(batch)-1].Seq
		if err := cursors.Save(name, cur); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if o.OnLag != nil {
			if last := log.Last(); last > cur {
				o.OnLag(last - cur)
			} else {
				o.OnLag(0)
			}
		}
	}
}
