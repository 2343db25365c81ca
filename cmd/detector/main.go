// Command detector is the anomaly detection service and its tools.
//
//	detector serve             run the REST service
//	detector replay FILE.csv   score a timestamp,value CSV with the service's model
//	detector version           print the version
//	detector demo              a simulated fleet with incidents, and the console to see it
//
// Every flag can also be set through the environment: DETECTOR_ followed by
// the flag name in upper case with dashes as underscores (--listen →
// DETECTOR_LISTEN). Flags on the command line win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h asked for the usage, which was printed
		}
		fmt.Fprintln(os.Stderr, "detector:", err)
		os.Exit(1)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: detector <command> [flags]

commands:
  serve    run the REST service (see detector serve -h)
  replay   score a timestamp,value CSV file with the service's model
  version  print the version
  demo     a simulated streaming fleet with incidents, pushed into a service it starts (see detector demo -h)
`)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "replay":
		return replay(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "detector", buildVersion())
		return nil
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}
