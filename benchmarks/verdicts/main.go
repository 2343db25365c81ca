// Command verdicts writes every verdict the default model gives on the NAB
// corpus and on the healthy suite's series (clean and with each injected
// incident), and compares two such files, so that a change to the model's
// representation or arithmetic can be shown to leave its verdicts alone:
//
//	go run ./benchmarks/verdicts -out /tmp/before.bin     # on the old code
//	go run ./benchmarks/verdicts -out /tmp/after.bin      # on the new code
//	go run ./benchmarks/verdicts -compare /tmp/before.bin /tmp/after.bin
//
// The comparison counts the points whose state, detector, transition or
// learned flag differ, and the largest change of the score and of the band
// edges, relative to the band's width. Half way through every series the
// model is also encoded and decoded, and the rest of the series is judged
// by the decoded copy, so a lossy encoding shows up too.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
	"github.com/anomalyd/detector/internal/synth"
	"github.com/anomalyd/detector/models"
)

const recLen = 4 + 5*8

func main() {
	out := flag.String("out", "", "write the verdicts to this file")
	cmp := flag.Bool("compare", false, "compare the two verdict files given as arguments")
	seeds := flag.Int("seeds", 2, "healthy series per shape")
	days := flag.Int("days", 21, "days per healthy series")
	flag.Parse()
	if *cmp {
		if flag.NArg() != 2 {
			fmt.Fprintln(os.Stderr, "usage: verdicts -compare OLD NEW")
			os.Exit(2)
		}
		if err := compare(flag.Arg(0), flag.Arg(1)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: verdicts -out FILE | -compare OLD NEW")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	w := bufio.NewWriter(f)
	c := models.DefaultConfig()
	n := 0
	root, err := corpus.DefaultRoot()
	if err == nil {
		files, lerr := corpus.Load(root + "/data")
		if lerr != nil {
			fmt.Fprintln(os.Stderr, lerr)
			os.Exit(1)
		}
		for _, fl := range files {
			n += run(w, &c, fl.TsMs, fl.Values)
		}
	} else {
		fmt.Fprintln(os.Stderr, "no NAB corpus:", err)
	}
	for _, sh := range synth.Shapes {
		for seed := range uint64(*seeds) {
			s, unit, _ := synth.Healthy{Shape: sh, Days: *days, Seed: seed + 1000}.Gen()
			n += run(w, &c, s.Ts, s.Values)
			rng := rand.New(rand.NewPCG(seed+1000, 99))
			for _, k := range synth.Incidents {
				at := synth.DefaultStart + int64(*days/2)*86_400_000 + rng.Int64N(int64(*days-*days/2-2)*86_400_000)
				inj, _ := synth.Inject(s, unit, k, at, 10)
				n += run(w, &c, inj.Ts, inj.Values)
			}
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f.Close()
	fmt.Printf("%d verdicts written to %s\n", n, *out)
}

// run judges one series, re-encoding the model half way, and writes each
// verdict.
func run(w io.Writer, c *models.Config, ts []int64, vs []float64) int {
	var m models.Model
	var buf [recLen]byte
	for i := range ts {
		if i == len(ts)/2 {
			var x models.Model
			if err := x.UnmarshalBinary(m.AppendBinary(nil)); err != nil {
				panic(err)
			}
			m = x
		}
		r := m.Update(c, ts[i], vs[i])
		learned := byte(0)
		if r.Learned {
			learned = 1
		}
		buf[0], buf[1], buf[2], buf[3] = byte(r.State), byte(r.Detector), byte(r.Transition), learned
		for j, f := range [...]float64{r.Expected, r.Lower, r.Upper, r.Score, r.Z} {
			binary.LittleEndian.PutUint64(buf[4+8*j:], math.Float64bits(f))
		}
		w.Write(buf[:])
	}
	return len(ts)
}

func compare(a, b string) error {
	x, err := os.ReadFile(a)
	if err != nil {
		return err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return err
	}
	if len(x) != len(y) {
		return fmt.Errorf("%d verdicts against %d", len(x)/recLen, len(y)/recLen)
	}
	var n, state, det, trans, learned, exact int
	var dScore, dEdge, dExp float64
	names := [...]string{"expected", "lower", "upper", "score", "z"}
	_ = names
	for off := 0; off < len(x); off += recLen {
		p, q := x[off:off+recLen], y[off:off+recLen]
		n++
		if string(p) == string(q) {
			exact++
			continue
		}
		if p[0] != q[0] {
			state++
		}
		if p[1] != q[1] {
			det++
		}
		if p[2] != q[2] {
			trans++
		}
		if p[3] != q[3] {
			learned++
		}
		f := func(b []byte, j int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b[4+8*j:])) }
		width := math.Max(f(p, 2)-f(p, 1), 1e-300)
		dExp = math.Max(dExp, math.Abs(f(p, 0)-f(q, 0))/width)
		dEdge = math.Max(dEdge, math.Max(math.Abs(f(p, 1)-f(q, 1)), math.Abs(f(p, 2)-f(q, 2)))/width)
		dScore = math.Max(dScore, math.Abs(f(p, 3)-f(q, 3)))
	}
	fmt.Printf("%d verdicts, %d bit for bit the same\n", n, exact)
	fmt.Printf("differing: state %d, detector %d, transition %d, learned %d\n", state, det, trans, learned)
	fmt.Printf("largest change: expected %.3g and band edges %.3g of the band's width, score %.3g\n", dExp, dEdge, dScore)
	return nil
}
