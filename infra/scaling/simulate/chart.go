package simulate

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Chart draws a trace's run as a PNG: ingestion and consumption rates
// (messages/s) on top, backlog (messages) in the middle, tasks at the
// bottom, minutes along the x axis, and a mark where each scaling rule
// first fired.
func Chart(w io.Writer, title string, res Result) error {
	const width, height, left, right = 1000, 640, 70, 20
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, left, 16, title, color.Black)
	n := len(res.Minutes)
	if n == 0 {
		return png.Encode(w, img)
	}
	x := func(i int) int { return left + int(float64(i)/math.Max(1, float64(n-1))*float64(width-left-right)) }
	panels := []struct {
		top, bottom int
		label       string
		lines       []line
	}{
		{30, 250, "messages/s", []line{
			{"ingest", color.RGBA{0x1f, 0x77, 0xb4, 0xff}, func(m Minute) float64 { return m.Ingest }},
			{"consume", color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, func(m Minute) float64 { return m.Consume }},
		}},
		{280, 450, "backlog (ready + unacked)", []line{
			{"backlog", color.RGBA{0xd6, 0x27, 0x28, 0xff}, func(m Minute) float64 { return m.Backlog }},
		}},
		{480, 610, "tasks", []line{
			{"running", color.RGBA{0x94, 0x67, 0xbd, 0xff}, func(m Minute) float64 { return float64(m.Tasks) }},
			{"desired", color.RGBA{0xff, 0x7f, 0x0e, 0xff}, func(m Minute) float64 { return float64(m.Desired) }},
		}},
	}
	grey := color.RGBA{0xcc, 0xcc, 0xcc, 0xff}
	for _, p := range panels {
		hi := 0.0
		for _, m := range res.Minutes {
			for _, l := range p.lines {
				hi = math.Max(hi, l.v(m))
			}
		}
		if hi == 0 {
			hi = 1
		}
		hi = niceCeil(hi)
		y := func(v float64) int { return p.bottom - int(v/hi*float64(p.bottom-p.top)) }
		hline(img, left, width-right, p.bottom, color.Black)
		vline(img, left, p.top, p.bottom, color.Black)
		hline(img, left, width-right, p.top, grey)
		text(img, 4, p.top+10, trimNum(hi), color.Black)
		text(img, 4, p.bottom, "0", color.Black)
		lx := left + 8
		text(img, lx, p.top-4, p.label, color.Black)
		lx += 8*len(p.label) + 16
		for _, l := range p.lines {
			for i := 1; i < n; i++ {
				segment(img, x(i-1), y(l.v(res.Minutes[i-1])), x(i), y(l.v(res.Minutes[i])), l.c)
			}
			text(img, lx, p.top-4, l.name, l.c)
			lx += 8*len(l.name) + 16
		}
	}
	// Minute ticks and the first firing of each rule.
	for i := 0; i < n; i += tickStep(n) {
		vline(img, x(i), 610, 615, color.Black)
		text(img, x(i)-8, 630, fmt.Sprint(res.Minutes[i].Minute), color.Black)
	}
	text(img, 4, 630, "minute", color.Black)
	row := 0
	for _, name := range ruleOrder {
		m, ok := res.FirstFired[name]
		if !ok {
			continue
		}
		for i, mm := range res.Minutes {
			if mm.Minute == m {
				vline(img, x(i), 30, 610, color.RGBA{0x99, 0x99, 0x99, 0xff})
				text(img, x(i)+3, 44+12*row, name, color.RGBA{0x55, 0x55, 0x55, 0xff})
				row++
				break
			}
		}
	}
	return png.Encode(w, img)
}

type line struct {
	name string
	c    color.Color
	v    func(Minute) float64
}

// ruleOrder is the order rules are listed in charts and tables.
var ruleOrder = []string{"backlog-rising", "cpu-80", "cpu-90", "queue-empty", "cpu-high-queue-empty", "queue-metrics-missing"}

func tickStep(n int) int {
	for _, s := range []int{5, 10, 15, 30, 60, 120, 240} {
		if n/s <= 12 {
			return s
		}
	}
	return n / 10
}

func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func trimNum(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, c color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, c)
	}
}

// segment draws a line with Bresenham's algorithm, two pixels thick.
func segment(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
