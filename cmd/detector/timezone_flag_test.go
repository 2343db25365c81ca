package main

import (
	"flag"
	"io"
	"testing"
)

func TestTimezoneFlag(t *testing.T) {
	for _, tc := range []struct {
		arg, want string
		bad       bool
	}{
		{"", "", false},
		{"--timezone=UTC", "", false},
		{"--timezone=Europe/Berlin", "Europe/Berlin", false},
		{"--timezone=Mars/Olympus", "", true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		mf := bindModelFlags(fs)
		var args []string
		if tc.arg != "" {
			args = []string{tc.arg}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := mf.config()
		if (err != nil) != tc.bad {
			t.Errorf("%q: error %v, want error %v", tc.arg, err, tc.bad)
			continue
		}
		got := ""
		if c.Location != nil {
			got = c.Location.String()
		}
		if !tc.bad && got != tc.want {
			t.Errorf("%q: location %q, want %q", tc.arg, got, tc.want)
		}
	}
}
