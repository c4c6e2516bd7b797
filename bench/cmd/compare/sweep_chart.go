package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// record is one CSV row of a sweep, as far as the charts need it.
type record struct {
	curve, runner     string
	concurrency, size int
	pool              int
	tps, p99ms, cpuUs float64 // cpuUs: server plus client CPU per call
}

// x is the record's abscissa on its curve.
func (r record) x() float64 {
	switch r.curve {
	case curveSize:
		return float64(r.size)
	case curveConnections:
		return float64(r.pool)
	}
	return float64(r.concurrency)
}

// parseRecord reads a CSV row laid out as sweepColumns.
func parseRecord(cells []string) (record, error) {
	if len(cells) != len(sweepColumns) {
		return record{}, fmt.Errorf("%d fields, want %d", len(cells), len(sweepColumns))
	}
	col := func(name string) string {
		for i, c := range sweepColumns {
			if c == name {
				return cells[i]
			}
		}
		panic("no sweep column " + name)
	}
	r := record{curve: col("curve"), runner: col("runner")}
	var errs []error
	atoi := func(name string) int {
		n, err := strconv.Atoi(col(name))
		errs = append(errs, err)
		return n
	}
	atof := func(name string) float64 {
		v, err := strconv.ParseFloat(col(name), 64)
		errs = append(errs, err)
		return v
	}
	r.concurrency, r.size, r.pool = atoi("concurrency"), atoi("size_bytes"), atoi("connections")
	r.tps, r.p99ms = atof("tps"), atof("p99_ms")
	r.cpuUs = atof("server_cpu_us_per_call") + atof("client_cpu_us_per_call")
	if err := errors.Join(errs...); err != nil {
		return record{}, err
	}
	if !slices.Contains(sweepCurves, r.curve) {
		return record{}, fmt.Errorf("unknown curve %q", r.curve)
	}
	return r, nil
}

// readSweepCSV reads the records of a sweep.csv, for -sweep-replot.
func readSweepCSV(path string) ([]record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(sweepColumns, ",") {
		return nil, fmt.Errorf("%s: not a sweep CSV (header %v)", path, rows[0:min(1, len(rows))])
	}
	var recs []record
	for i, cells := range rows[1:] {
		r, err := parseRecord(cells)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", path, i+2, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// writeSweepCharts draws each curve measured, as SVG and PNG, into dir.
func writeSweepCharts(dir string, recs []record, log io.Writer) error {
	for _, curve := range sweepCurves {
		if !slices.ContainsFunc(recs, func(r record) bool { return r.curve == curve }) {
			continue // not measured in this sweep
		}
		for _, ext := range []string{"svg", "png"} {
			path := filepath.Join(dir, "sweep-"+curve+"."+ext)
			if err := writeSweepChart(path, curve, recs); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fmt.Fprintf(log, "wrote %s\n", path)
		}
	}
	return nil
}

// panel is one chart of a curve: a figure of a record against its x.
type panel struct {
	title, unit string
	logY        bool
	falls       bool // the figure falls as x grows: the legend goes below the lines
	get         func(record) float64
}

// sweepPanels are drawn side by side for each curve: how throughput,
// tail latency and CPU per call move as the work grows.
func sweepPanels(curve string) []panel {
	return []panel{
		{"Throughput", "calls per second", curve == curveSize, curve == curveSize, func(r record) float64 { return r.tps }},
		{"p99 latency", "ms", true, false, func(r record) float64 { return r.p99ms }},
		{"CPU per call, server + client", "µs", curve == curveSize, curve != curveSize, func(r record) float64 { return r.cpuUs }},
	}
}

// writeSweepChart draws curve's panels into path, as SVG or PNG by its
// extension, a line per runner in the order the runners first appear.
// Every axis on which the work grows is logarithmic.
func writeSweepChart(path, curve string, recs []record) error {
	var names []string
	var xs []float64
	var first record
	for _, r := range recs {
		if r.curve != curve {
			continue
		}
		if len(names) == 0 {
			first = r
		}
		if !slices.Contains(names, r.runner) {
			names = append(names, r.runner)
		}
		if !slices.Contains(xs, r.x()) {
			xs = append(xs, r.x())
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no %s points to draw", curve)
	}
	xLabel := "concurrent callers (c)"
	title := fmt.Sprintf("%s message, %d connections", sizeLabel(first.size), first.pool)
	xTicks := listTicks{values: xs, label: func(v float64) string { return strconv.Itoa(int(v)) }}
	switch curve {
	case curveSize:
		xLabel = "message size"
		title = fmt.Sprintf("c=%d, %d connections", first.concurrency, first.pool)
		xTicks.label = func(v float64) string { return sizeLabel(int(v)) }
	case curveConnections:
		xLabel = "connections, one caller each"
		title = sizeLabel(first.size) + " message"
	}
	var plots []*plot.Plot
	for _, pn := range sweepPanels(curve) {
		p := plot.New()
		p.Title.Text = pn.title + " (" + title + ")"
		p.X.Label.Text = xLabel
		p.Y.Label.Text = pn.unit
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = xTicks
		if pn.logY {
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		} else {
			p.Y.Min = 0
			p.Y.Tick.Marker = wholeTicks{}
		}
		p.Legend.Top = !pn.falls
		p.Legend.Left = true
		p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(-4)
		if pn.falls {
			p.Legend.YOffs = vg.Points(4)
		}
		drawn := 0
		for i, name := range names {
			var xys plotter.XYs
			for _, r := range recs {
				// Zero has no place on a logarithmic axis.
				if y := pn.get(r); r.curve == curve && r.runner == name && y > 0 {
					xys = append(xys, plotter.XY{X: r.x(), Y: y})
				}
			}
			if len(xys) == 0 {
				continue
			}
			line, dots, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			line.Color = plotutil.Color(i)
			line.Width = vg.Points(1.5)
			dots.Color = plotutil.Color(i)
			dots.Shape = plotutil.Shape(i)
			p.Add(line, dots)
			p.Legend.Add(name, line, dots)
			drawn++
		}
		if drawn == 0 {
			return fmt.Errorf("no %s %s above zero to draw", curve, pn.title)
		}
		plots = append(plots, p)
	}
	const w, h = 16 * vg.Inch, 5 * vg.Inch
	var canvas vg.CanvasSizer
	var write func(f *os.File) error
	switch filepath.Ext(path) {
	case ".svg":
		c := vgsvg.New(w, h)
		canvas = c
		write = func(f *os.File) error { _, err := c.WriteTo(f); return err }
	case ".png":
		c := vgimg.New(w, h)
		canvas = c
		write = func(f *os.File) error { _, err := vgimg.PngCanvas{Canvas: c}.WriteTo(f); return err }
	default:
		return fmt.Errorf("unknown chart format %q (want .svg or .png)", filepath.Ext(path))
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 1, Cols: len(plots), PadX: vg.Points(16), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align([][]*plot.Plot{plots}, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[0][i])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// listTicks marks exactly the points measured, labelled by label.
type listTicks struct {
	values []float64
	label  func(float64) string
}

// Ticks implements plot.Ticker.
func (t listTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for _, v := range t.values {
		if v >= min && v <= max {
			ticks = append(ticks, plot.Tick{Value: v, Label: t.label(v)})
		}
	}
	return ticks
}

// sizeLabel names a byte count the way the README does (64 B, 16 KiB).
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " B"
}
