package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/anomalyd/detector/demo"
)

// demoCmd runs `detector demo`: it starts a service in memory (or uses the
// one at --url), pushes days of a simulated streaming fleet in accelerated
// time with incidents at the end, then keeps the fleet going live.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "push into the service at this base URL (empty: start one in memory on --listen)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of the service the demo starts (without --url)")
	tokenFile := fs.String("token-file", "", "file holding a write bearer token for --url (or set DETECTOR_DEMO_TOKEN)")
	span := fs.Duration("span", 15*24*time.Hour, "simulated history pushed in accelerated time before the live part")
	step := fs.Duration("step", 10*time.Minute, "simulated time between points of a series during the backfill")
	every := fs.Duration("live-every", 30*time.Second, "after the backfill, push one point per series this often (0: stop after the backfill)")
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	seed := fs.Uint64("seed", 1, "random seed of the fleet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *step < time.Second || *span < *step {
		return errors.New("demo: --step must be at least 1s and --span at least one step")
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	token := os.Getenv("DETECTOR_DEMO_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	base := *url
	if base == "" {
		log, _ := newLogger(stderr, "warn", "text")
		m, err := NewMain(Config{Listen: *listen, PeerInterval: 10 * time.Second, Persist: PersistConfig{DataDir: ""}}, log)
		if err != nil {
			return err
		}
		if err := m.Start(); err != nil {
			m.Close()
			return err
		}
		defer m.Close()
		base = "http://" + m.Addr()
	}
	c := &demo.Client{URL: base, Token: token}
	f := demo.NewFleet(time.Now(), *seed)
	fmt.Fprintf(stdout, "demo: %d series (play_starts per title, device and bitrate; server_cpu of 2 clusters) into %s\n", f.SeriesCount(), base)
	if err := c.AddPeerRule(ctx, *step); err != nil {
		return err
	}
	for _, ch := range f.Changes() {
		switch err := c.PostChange(ctx, ch); {
		case errors.Is(err, demo.ErrNoEvents):
			fmt.Fprintf(stdout, "demo: %s at %s (not sent: %v)\n", ch.Title, ch.At.Format(time.RFC3339), err)
		case err != nil:
			fmt.Fprintf(stdout, "demo: change event not sent: %v\n", err)
		default:
			fmt.Fprintf(stdout, "demo: change event %q at %s\n", ch.Title, ch.At.Format(time.RFC3339))
		}
	}
	start := time.Now()
	res, err := demo.Backfill(ctx, c, f, demo.BackfillOptions{Span: *span, Step: *step})
	if err != nil {
		return fmt.Errorf("demo: backfill: %w", err)
	}
	fmt.Fprintf(stdout, "demo: %s of history in %s: %d points accepted, %d rejected, %d anomalous verdicts\n",
		*span, time.Since(start).Round(time.Millisecond), res.Accepted, res.Rejected, res.Anomalies)
	fmt.Fprintf(stdout, "demo: incidents: %s play starts failing for %s (after a deploy), the %s encode of %s broken for %s, %s drifting from %s for %s\n",
		demo.FailingDevice, demo.DeviceFailFor, demo.BrokenBitrate, demo.BrokenTitle, demo.EncodeFailFor, demo.DriftServer, demo.DriftCluster, demo.DriftFor)
	fmt.Fprintf(stdout, "demo: console at %s/ (peer groups are judged within a minute)\n", base)
	if *every <= 0 {
		if *url == "" { // keep serving the console until interrupted
			<-ctx.Done()
		}
		return nil
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	var buf []demo.Point
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			buf = f.Append(buf[:0], now)
			if _, err := c.Push(ctx, buf); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				slog.Warn("demo: live push failed", "err", err)
			}
		}
	}
}
