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
	"time"

	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/pb"
)

// defaultSweepRunners are the curves drawn unless -only says otherwise:
// the raw ceiling, the minimal RPC, teleport and net/rpc.
const defaultSweepRunners = "rawtcp-mux,minrpc,teleport,netrpc"

// The curves of a sweep.
const (
	curveConcurrency = "concurrency"
	curveSize        = "size"
	// curveConnections: one caller per connection, as many of both.
	curveConnections = "connections"
)

// sweepCurves are the curves in the order they are measured and printed.
var sweepCurves = []string{curveConcurrency, curveSize, curveConnections}

// sweepConfig is one sweep: every runner at every point of both curves.
type sweepConfig struct {
	exe      string
	runners  []runner.Runner
	duration time.Duration // per runner and point, over all rounds
	rounds   int
	pool     int
	cs       []int // concurrencies of the concurrency curve, standard message
	sizes    []int // message sizes of the size curve, at sizeC
	conns    []int // connections of the connections curve, one caller each
	sizeC    int
	out      string // directory for the CSV and the charts
}

// point is one runner's measurement at one point of a curve.
type point struct {
	curve       string
	concurrency int
	pool        int
	size        int // marshalled request size in bytes
	row         row
}

// runSweep measures both curves, point after point (each point an
// interleaved run of every runner), prints a table per curve to out and
// writes sweep.csv and the charts into sc.out. A point where a runner
// failed is reported and left out; the sweep goes on, and the error says
// so at the end.
func runSweep(sc sweepConfig, out, log io.Writer) error {
	if err := os.MkdirAll(sc.out, 0o755); err != nil {
		return err
	}
	var points []point
	failed := false
	measurePoint := func(curve string, cfg config, size int) {
		fmt.Fprintf(log, "== %s curve: c=%d, %d connections, %s message\n", curve, cfg.concurrency, cfg.pool, sizeLabel(size))
		rows, bad := interleave(sc.exe, sc.runners, cfg, log)
		failed = failed || bad
		for _, r := range rows {
			points = append(points, point{curve: curve, concurrency: cfg.concurrency, pool: cfg.pool, size: size, row: r})
		}
	}
	base := config{duration: sc.duration, pool: sc.pool, rounds: sc.rounds}
	for _, c := range sc.cs {
		cfg := base
		cfg.concurrency = c
		measurePoint(curveConcurrency, cfg, requestSize())
	}
	for _, size := range sc.sizes {
		req, err := pb.NewRequestSize(size)
		if err != nil {
			return err
		}
		cfg := base
		cfg.concurrency, cfg.request = sc.sizeC, req
		measurePoint(curveSize, cfg, size)
	}

	for _, n := range sc.conns {
		cfg := base
		cfg.concurrency, cfg.pool = n, n
		measurePoint(curveConnections, cfg, requestSize())
	}

	writeSweepTables(out, points, sc)
	csvPath := filepath.Join(sc.out, "sweep.csv")
	if err := writeSweepCSV(csvPath, points); err != nil {
		return err
	}
	fmt.Fprintf(log, "wrote %s\n", csvPath)
	// The charts are drawn from what the CSV holds, as -sweep-replot does.
	recs, err := readSweepCSV(csvPath)
	if err != nil {
		return err
	}
	if err := writeSweepCharts(sc.out, recs, log); err != nil {
		return err
	}
	if failed {
		return errors.New("a runner failed or had a call that was not OK at some point (see above)")
	}
	return nil
}

// sweepColumns are the CSV header and the figures of a point, in order.
var sweepColumns = []string{
	"curve", "runner", "concurrency", "connections", "size_bytes", "tps", "p50_ms", "p99_ms", "p999_ms",
	"server_cpu_us_per_call", "client_cpu_us_per_call", "server_allocs_per_call", "client_allocs_per_call",
	"ok", "sent",
}

func (p point) cells() []string {
	r, l := p.row, p.row.res.Latency
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	ms := func(d time.Duration) string { return f(float64(d)/float64(time.Millisecond), 3) }
	return []string{
		p.curve, r.name, strconv.Itoa(p.concurrency), strconv.Itoa(p.pool), strconv.Itoa(p.size),
		f(r.res.TPS(), 0), ms(l.P50), ms(l.P99), ms(l.P999),
		f(perCall(micros(r.serverCPU), r), 2), f(perCall(micros(r.clientCPU), r), 2),
		f(perCall(float64(r.serverMal), r), 1), f(perCall(float64(r.res.ClientMallocs), r), 1),
		strconv.FormatInt(r.res.OK, 10), strconv.FormatInt(r.res.Sent, 10),
	}
}

func writeSweepCSV(path string, points []point) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(sweepColumns)
	for _, p := range points {
		w.Write(p.cells())
	}
	w.Flush()
	return errors.Join(w.Error(), f.Close())
}

// writeSweepTables prints one markdown table per curve: a row per point
// and runner.
func writeSweepTables(w io.Writer, points []point, sc sweepConfig) {
	for _, curve := range sweepCurves {
		if !slices.ContainsFunc(points, func(p point) bool { return p.curve == curve }) {
			continue
		}
		switch curve {
		case curveConcurrency:
			fmt.Fprintf(w, "Concurrency curve: %d-byte message, %d connections, %v per runner and point in %d interleaved rounds.\n\n",
				requestSize(), sc.pool, sc.duration, max(sc.rounds, 1))
		case curveSize:
			fmt.Fprintf(w, "Message-size curve: concurrency %d, %d connections, %v per runner and point in %d interleaved rounds.\n\n",
				sc.sizeC, sc.pool, sc.duration, max(sc.rounds, 1))
		case curveConnections:
			fmt.Fprintf(w, "Connections curve: %d-byte message, one caller per connection, %v per runner and point in %d interleaved rounds.\n\n",
				requestSize(), sc.duration, max(sc.rounds, 1))
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(sweepColumns[1:], " | "), strings.Repeat("---:|", len(sweepColumns)-1))
		for _, p := range points {
			if p.curve == curve {
				fmt.Fprintf(w, "| %s |\n", strings.Join(p.cells()[1:], " | "))
			}
		}
		fmt.Fprintln(w)
	}
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", s)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list %q", list)
	}
	return out, nil
}
