package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// lineChart is a line chart drawn to a PNG: one line per series through
// its points in order, each point marked and labelled with its y value
// above and to its left (clear of a rising line),
// labelled axes with round ticks from 0, and a legend.
type lineChart struct {
	title, xLabel, yLabel string
	width, height         int
	series                []chartSeries
	// valueFormat prints a point's y value beside it, e.g. "%.2f s".
	valueFormat string
}

// chartSeries is one line of a lineChart.
type chartSeries struct {
	name   string
	color  color.RGBA
	xs, ys []float64
	// noValues leaves the points unlabelled (a line that runs close under
	// another, whose labels would collide).
	noValues bool
}

var (
	chartInk   = color.RGBA{0x22, 0x22, 0x22, 0xff}
	chartGrid  = color.RGBA{0xe2, 0xe2, 0xe2, 0xff}
	chartPaper = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// chartFaces are the chart's three text sizes, all Go Regular.
type chartFaces struct{ title, label, small font.Face }

func newChartFaces() (chartFaces, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return chartFaces{}, err
	}
	face := func(size float64) (font.Face, error) {
		return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	}
	var fs chartFaces
	if fs.title, err = face(19); err != nil {
		return fs, err
	}
	if fs.label, err = face(15); err != nil {
		return fs, err
	}
	fs.small, err = face(13)
	return fs, err
}

// writePNG draws the chart and writes it to path.
func (c *lineChart) writePNG(path string) error {
	img, err := c.draw()
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// draw renders the chart.
func (c *lineChart) draw() (*image.RGBA, error) {
	if c.width < 200 || c.height < 150 {
		return nil, fmt.Errorf("chart %dx%d: too small", c.width, c.height)
	}
	faces, err := newChartFaces()
	if err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, c.width, c.height))
	draw.Draw(img, img.Bounds(), image.NewUniform(chartPaper), image.Point{}, draw.Src)

	// The plot area, inside margins for the title, ticks and axis labels.
	plot := image.Rect(84, 52, c.width-40, c.height-64)
	var maxX, maxY float64
	for _, s := range c.series {
		if len(s.xs) != len(s.ys) {
			return nil, fmt.Errorf("chart series %q: %d x values, %d y values", s.name, len(s.xs), len(s.ys))
		}
		for i := range s.xs {
			maxX, maxY = math.Max(maxX, s.xs[i]), math.Max(maxY, s.ys[i])
		}
	}
	xTicks, xMax := niceTicks(maxX)
	yTicks, yMax := niceTicks(maxY * 1.08)
	px := func(x float64) float64 { return float64(plot.Min.X) + x/xMax*float64(plot.Dx()) }
	py := func(y float64) float64 { return float64(plot.Max.Y) - y/yMax*float64(plot.Dy()) }

	// Grid and ticks.
	for _, t := range yTicks {
		y := int(math.Round(py(t)))
		fillRect(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), chartGrid)
		label := tickLabel(t)
		w := font.MeasureString(faces.small, label).Ceil()
		drawText(img, faces.small, label, plot.Min.X-8-w, y+5, chartInk)
	}
	for _, t := range xTicks {
		x := int(math.Round(px(t)))
		fillRect(img, image.Rect(x, plot.Min.Y, x+1, plot.Max.Y), chartGrid)
		if t == 0 {
			continue // the y axis's 0 is beside it
		}
		label := tickLabel(t)
		w := font.MeasureString(faces.small, label).Ceil()
		drawText(img, faces.small, label, x-w/2, plot.Max.Y+20, chartInk)
	}
	// Axes.
	fillRect(img, image.Rect(plot.Min.X, plot.Max.Y, plot.Max.X+1, plot.Max.Y+2), chartInk)
	fillRect(img, image.Rect(plot.Min.X-1, plot.Min.Y, plot.Min.X+1, plot.Max.Y+2), chartInk)

	// Title and axis labels.
	w := font.MeasureString(faces.title, c.title).Ceil()
	drawText(img, faces.title, c.title, (c.width-w)/2, 32, chartInk)
	w = font.MeasureString(faces.label, c.xLabel).Ceil()
	drawText(img, faces.label, c.xLabel, plot.Min.X+(plot.Dx()-w)/2, c.height-20, chartInk)
	drawTextUp(img, faces.label, c.yLabel, 26, plot.Min.Y+plot.Dy()/2, chartInk)

	// The lines, their points and values.
	r := vector.NewRasterizer(c.width, c.height)
	for _, s := range c.series {
		for i := 1; i < len(s.xs); i++ {
			strokeSegment(r, img, px(s.xs[i-1]), py(s.ys[i-1]), px(s.xs[i]), py(s.ys[i]), 2.5, s.color)
		}
		for i := range s.xs {
			x, y := px(s.xs[i]), py(s.ys[i])
			fillCircle(r, img, x, y, 4.5, s.color)
			if s.noValues {
				continue
			}
			label := fmt.Sprintf(c.valueFormat, s.ys[i])
			w := font.MeasureString(faces.small, label).Ceil()
			drawText(img, faces.small, label, int(x)-w-6, int(y)-8, s.color)
		}
	}

	// Legend, top left inside the plot.
	lx, ly := plot.Min.X+16, plot.Min.Y+14
	var lw int
	for _, s := range c.series {
		lw = max(lw, font.MeasureString(faces.label, s.name).Ceil())
	}
	box := image.Rect(lx-8, ly-8, lx+36+lw+10, ly-8+len(c.series)*22+10)
	fillRect(img, box, chartPaper)
	strokeRect(img, box, chartGrid)
	for i, s := range c.series {
		y := float64(ly + i*22 + 6)
		strokeSegment(r, img, float64(lx), y, float64(lx+26), y, 2.5, s.color)
		fillCircle(r, img, float64(lx+13), y, 4.5, s.color)
		drawText(img, faces.label, s.name, lx+36, int(y)+5, chartInk)
	}
	return img, nil
}

// niceTicks returns round tick values from 0 covering max (1, 2 or 5
// times a power of ten apart, 4 to 10 of them), and the last one.
func niceTicks(max float64) ([]float64, float64) {
	if max <= 0 || math.IsNaN(max) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / 5
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * pow
	for _, m := range []float64{1, 2, 5} {
		if m*pow >= raw {
			step = m * pow
			break
		}
	}
	n := int(math.Ceil(max/step - 1e-9))
	ticks := make([]float64, n+1)
	for i := range ticks {
		ticks[i] = float64(i) * step
	}
	return ticks, ticks[n]
}

// tickLabel prints a tick value without needless decimals.
func tickLabel(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	return s
}

func fillRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func strokeRect(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), c)
	fillRect(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), c)
	fillRect(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), c)
	fillRect(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), c)
}

// strokeSegment draws an anti-aliased line of the given width.
func strokeSegment(r *vector.Rasterizer, img *image.RGBA, x0, y0, x1, y1, width float64, c color.RGBA) {
	dx, dy := x1-x0, y1-y0
	l := math.Hypot(dx, dy)
	if l == 0 {
		return
	}
	nx, ny := -dy/l*width/2, dx/l*width/2
	r.Reset(img.Bounds().Dx(), img.Bounds().Dy())
	r.MoveTo(float32(x0+nx), float32(y0+ny))
	r.LineTo(float32(x1+nx), float32(y1+ny))
	r.LineTo(float32(x1-nx), float32(y1-ny))
	r.LineTo(float32(x0-nx), float32(y0-ny))
	r.ClosePath()
	r.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{})
}

// fillCircle draws an anti-aliased disc.
func fillCircle(r *vector.Rasterizer, img *image.RGBA, cx, cy, radius float64, c color.RGBA) {
	r.Reset(img.Bounds().Dx(), img.Bounds().Dy())
	const n = 32
	for i := 0; i <= n; i++ {
		a := 2 * math.Pi * float64(i) / n
		x, y := float32(cx+radius*math.Cos(a)), float32(cy+radius*math.Sin(a))
		if i == 0 {
			r.MoveTo(x, y)
		} else {
			r.LineTo(x, y)
		}
	}
	r.ClosePath()
	r.Draw(img, img.Bounds(), image.NewUniform(c), image.Point{})
}

// drawText draws s with its baseline starting at (x, y).
func drawText(img draw.Image, face font.Face, s string, x, y int, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// drawTextUp draws s turned a quarter left (read bottom to top), centred
// on (cx, cy).
func drawTextUp(img *image.RGBA, face font.Face, s string, cx, cy int, c color.RGBA) {
	m := face.Metrics()
	w := font.MeasureString(face, s).Ceil()
	h := (m.Ascent + m.Descent).Ceil()
	flat := image.NewRGBA(image.Rect(0, 0, w, h))
	drawText(flat, face, s, 0, m.Ascent.Ceil(), c)
	up := image.NewRGBA(image.Rect(0, 0, h, w))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			up.SetRGBA(y, w-1-x, flat.RGBAAt(x, y))
		}
	}
	at := image.Rect(cx-h/2, cy-w/2, cx-h/2+h, cy-w/2+w)
	draw.Draw(img, at, up, image.Point{}, draw.Over)
}
