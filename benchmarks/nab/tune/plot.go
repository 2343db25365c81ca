package main

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/anomalyd/detector/benchmarks/nab/corpus"
	"github.com/anomalyd/detector/benchmarks/nab/score"
)

// plot writes a PNG per file to dir: the values (black), the windows
// (shaded), the probation (grey line) and the score (red, lower band) with
// the threshold (blue).
func plot(dir string, files []corpus.File, windows map[string][]score.Window, scores [][]float64, t float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const W, H, SH = 1600, 300, 120
	for fi := range files {
		f := &files[fi]
		img := image.NewRGBA(image.Rect(0, 0, W, H+SH))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		n := f.Len()
		col := func(i int) int { return i * (W - 1) / max(n-1, 1) }
		for _, w := range windows[f.Key()] {
			for px := col(w.L); px <= col(w.R); px++ {
				for y := 0; y < H+SH; y++ {
					img.Set(px, y, color.RGBA{255, 230, 180, 255})
				}
			}
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range f.Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		if hi == lo {
			hi = lo + 1
		}
		p := min(int(0.15*float64(n)), 750)
		for y := 0; y < H+SH; y++ {
			img.Set(col(p), y, color.RGBA{160, 160, 160, 255})
		}
		for i, v := range f.Values {
			y := H - 1 - int((v-lo)/(hi-lo)*float64(H-10)) - 5
			img.Set(col(i), y, color.Black)
			s := scores[fi][i]
			c := color.RGBA{220, 0, 0, 255}
			if s >= t {
				c = color.RGBA{0, 160, 0, 255}
			}
			for yy := H + SH - 1 - int(s*float64(SH-5)); yy < H+SH; yy++ {
				img.Set(col(i), yy, c)
			}
		}
		ty := H + SH - 1 - int(t*float64(SH-5))
		for px := 0; px < W; px++ {
			img.Set(px, ty, color.RGBA{0, 0, 255, 255})
		}
		out, err := os.Create(filepath.Join(dir, strings.ReplaceAll(f.Key(), "/", "_")+".png"))
		if err != nil {
			return err
		}
		if err := png.Encode(out, img); err != nil {
			out.Close()
			return err
		}
		out.Close()
	}
	return nil
}
