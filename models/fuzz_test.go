package models

import (
	"bytes"
	"errors"
	"testing"

	"github.com/anomalyd/detector/algorithms/novelty"
	"github.com/anomalyd/detector/internal/synth"
)

// trainedEncoding returns the encoding of a model that has learned n points
// of a synthetic daily series, so that every field holds a typical value.
func trainedEncoding(c *Config, n int) []byte {
	s := synth.Generate(synth.Config{Points: n, DailyAmp: 20, Noise: 2, Seed: 3})
	var m Model
	for i := range s.Ts {
		m.Update(c, s.Ts[i], s.Values[i])
	}
	return m.AppendBinary(nil)
}

// FuzzUnmarshalBinary feeds the model decoder arbitrary bytes, and a valid
// encoding with the fuzzer's bytes written over it at off (random bytes
// almost never have the one valid length). A rejected input must give an
// error wrapping ErrEncoding and leave the model unchanged; an accepted one
// must re-encode to the same bytes (but for the novelty state's days, see
// novelDaysOnly) and must not panic when it scores,
// learns or reports its baseline.
func FuzzUnmarshalBinary(f *testing.F) {
	c := DefaultConfig()
	valid := trainedEncoding(&c, 3*288)
	f.Add(valid, uint16(0), int64(1767614400000), 12.5)
	f.Add([]byte{}, uint16(0), int64(0), 0.0)
	f.Add([]byte{encodingVersion}, uint16(0), int64(-1), -1.0)
	f.Add(valid[:len(valid)-1], uint16(0), int64(1767614400000), 1e308)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f}, uint16(1), int64(1767614400000), 3.0)
	f.Fuzz(func(t *testing.T, data []byte, off uint16, ts int64, v float64) {
		patched := bytes.Clone(valid)
		copy(patched[int(off)%len(patched):], data)
		for _, in := range [][]byte{data, patched} {
			sentinel := Model{n: 99, lastTs: 42}
			m := sentinel
			if err := m.UnmarshalBinary(in); err != nil {
				if !errors.Is(err, ErrEncoding) {
					t.Fatalf("UnmarshalBinary(%x) = %v, want an error wrapping ErrEncoding", in, err)
				}
				if m != sentinel {
					t.Fatalf("UnmarshalBinary(%x) failed with %v but changed the model", in, err)
				}
				continue
			}
			got := m.AppendBinary(nil)
			if in[0] == encodingVersion && !bytes.Equal(got, in) && !novelDaysOnly(in, got) {
				t.Fatalf("UnmarshalBinary(%x) accepted, re-encoded as %x", in, got)
			}
			if in[0] < encodingVersion {
				// A migrated older model re-encodes in this version and
				// reads back as the same model.
				var again Model
				if err := again.UnmarshalBinary(got); err != nil || again != m {
					t.Fatalf("migrated UnmarshalBinary(%x) re-encoded as %x, which reads back as %v", in, got, err)
				}
			}
			exercise(t, &c, &m, ts, v)
		}
	})
}

// novelDaysOnly reports whether a re-encoding got of in differs from it
// only within the span of the range-novelty state, and is its own
// re-encoding: the novelty decoder reads the days of last visit and day
// counts older releases wrote in the same layout and keeps them as this
// release does (algorithms/novelty, FuzzUnmarshalBinary checks which bytes).
func novelDaysOnly(in, got []byte) bool {
	if len(in) != len(got) {
		return false
	}
	first, last := -1, -1
	for i := range in {
		if in[i] != got[i] {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	var again Model
	return last-first < novelty.EncodedLen && again.UnmarshalBinary(got) == nil && bytes.Equal(again.AppendBinary(nil), got)
}

// exercise drives a decoded model through every read and write the engine
// makes; the test fails only by panicking.
func exercise(t *testing.T, c *Config, m *Model, ts int64, v float64) {
	t.Helper()
	m.Last()
	m.Points()
	m.Baseline(c, ts)
	m.Peek(c, ts, v)
	m.Update(c, ts, v)
	last, _, _ := m.Last()
	for i := range int64(3) {
		m.Update(c, last+(i+1)*300000, v+float64(i))
	}
	m.Baseline(c, last)
	m.AppendBinary(nil)
}

// TestUnmarshalRejectsNoveltyKind is the regression test of a fuzzing
// find: an unknown novelty kind in the last byte used to be ignored, the
// novelty state silently left zero and the rest of the model accepted.
func TestUnmarshalRejectsNoveltyKind(t *testing.T) {
	c := DefaultConfig()
	b := trainedEncoding(&c, 300)
	b[len(b)-1-3] = 0xff // the novelty state's last byte, before the run counters
	var m Model
	if err := m.UnmarshalBinary(b); !errors.Is(err, ErrEncoding) {
		t.Fatalf("UnmarshalBinary(novelty kind 0xff) = %v, want an error wrapping ErrEncoding", err)
	}
	if m != (Model{}) {
		t.Error("UnmarshalBinary(novelty kind 0xff) changed the model")
	}
}
