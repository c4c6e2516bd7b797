package main

import (
	"fmt"
	"image/color"
	"os"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// writeSVG draws the table as two charts side by side: TPS per runner, and
// the p50, p99 and p99.9 latencies per runner.
func writeSVG(path string, rows []row, cfg config) error {
	if len(rows) == 0 {
		return fmt.Errorf("no results to draw")
	}
	names := make([]string, len(rows))
	tps := make(plotter.Values, len(rows))
	for i, r := range rows {
		names[i] = r.name
		tps[i] = r.res.TPS()
	}

	tpsPlot := plot.New()
	tpsPlot.Title.Text = fmt.Sprintf("Throughput (c=%d, pool=%d)", cfg.concurrency, cfg.pool)
	tpsPlot.Y.Label.Text = "calls per second"
	tpsPlot.Y.Min = 0
	tpsPlot.Y.Tick.Marker = wholeTicks{}
	bars, err := plotter.NewBarChart(tps, vg.Points(28))
	if err != nil {
		return err
	}
	bars.Color = color.RGBA{R: 0x33, G: 0x66, B: 0x99, A: 0xff}
	bars.LineStyle.Width = 0
	tpsPlot.Add(bars)
	tpsPlot.NominalX(names...)

	latPlot := plot.New()
	latPlot.Title.Text = "Latency"
	latPlot.Y.Label.Text = "ms"
	latPlot.Y.Min = 0
	latPlot.Legend.Top = true
	latPlot.Legend.Left = true
	series := []struct {
		name  string
		get   func(row) time.Duration
		color color.RGBA
	}{
		{"p50", func(r row) time.Duration { return r.res.Latency.P50 }, color.RGBA{R: 0x66, G: 0x99, B: 0xcc, A: 0xff}},
		{"p99", func(r row) time.Duration { return r.res.Latency.P99 }, color.RGBA{R: 0xee, G: 0x99, B: 0x33, A: 0xff}},
		{"p99.9", func(r row) time.Duration { return r.res.Latency.P999 }, color.RGBA{R: 0xcc, G: 0x33, B: 0x33, A: 0xff}},
	}
	const width = 12
	for k, s := range series {
		vals := make(plotter.Values, len(rows))
		for i, r := range rows {
			vals[i] = float64(s.get(r)) / float64(time.Millisecond)
		}
		b, err := plotter.NewBarChart(vals, vg.Points(width))
		if err != nil {
			return err
		}
		b.Color = s.color
		b.LineStyle.Width = 0
		b.Offset = vg.Points(float64(k-1) * width)
		latPlot.Add(b)
		latPlot.Legend.Add(s.name, b)
	}
	latPlot.NominalX(names...)

	// Headroom above the bars keeps the legend clear of them, and a half
	// category of margin keeps the outer bars off the plot's edges.
	for _, p := range []*plot.Plot{tpsPlot, latPlot} {
		p.Y.Max *= 1.3
		p.X.Min, p.X.Max = -0.5, float64(len(rows))-0.5
	}

	const w, h = 11 * vg.Inch, 4.5 * vg.Inch
	canvas := vgsvg.New(w, h)
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(16), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	plots := [][]*plot.Plot{{tpsPlot, latPlot}}
	canvases := plot.Align(plots, tiles, dc)
	tpsPlot.Draw(canvases[0][0])
	latPlot.Draw(canvases[0][1])

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wholeTicks labels ticks without decimals: the default ticker prints
// "75000.00" once the axis maximum is not a round number.
type wholeTicks struct{}

// Ticks implements plot.Ticker.
func (wholeTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', 0, 64)
		}
	}
	return ticks
}
