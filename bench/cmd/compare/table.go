package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/teleport-go/teleport/bench/pb"
)

// The runners the ratio columns divide by.
const (
	ceilingName = "rawtcp-mux"
	minRPCName  = "minrpc"
	subjectName = "teleport"
)

// otherNames are the other frameworks: "TPS / best other" divides by the
// fastest of them in the run.
var otherNames = []string{"netrpc", "grpc", "arpc", "rpcx"}

func requestSize() int {
	return proto.Size(pb.NewRequest())
}

// perCall divides a total over the calls received.
func perCall(total float64, r row) float64 {
	if r.res.Received == 0 {
		return 0
	}
	return total / float64(r.res.Received)
}

// perSecond is total per second of r's timed runs: collections are counted
// per second, since the collector runs on a clock of allocated bytes
// against live heap, not per call.
func perSecond(total float64, r row) float64 {
	if r.res.Elapsed <= 0 {
		return 0
	}
	return total / r.res.Elapsed.Seconds()
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func millis(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

// find returns the row called name.
func find(rows []row, name string) (row, bool) {
	for _, r := range rows {
		if r.name == name {
			return r, true
		}
	}
	return row{}, false
}

// bestOther returns the row of the other framework with the highest TPS.
func bestOther(rows []row) (row, bool) {
	var best row
	found := false
	for _, r := range rows {
		if slices.Contains(otherNames, r.name) && (!found || r.res.TPS() > best.res.TPS()) {
			best, found = r, true
		}
	}
	return best, found
}

// ratio formats a's TPS over b's, or "–" when b is missing.
func ratio(a, b row, ok bool) string {
	if !ok || b.res.TPS() <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.res.TPS()/b.res.TPS())
}

// writeTable prints rows as a markdown table, then what teleport costs
// beyond the minimal RPC and how it stands against the best other
// framework, when those ran.
func writeTable(w io.Writer, rows []row) {
	header := []string{
		"runner", "TPS", "mean ms", "p50 ms", "p99 ms", "p99.9 ms", "max ms",
		"server CPU µs/call", "client CPU µs/call", "server allocs/call", "client allocs/call",
		"GC cycles/s server / client", "TPS / " + ceilingName, "TPS / " + minRPCName, "TPS / best other", "OK / sent",
	}
	ceiling, hasCeiling := find(rows, ceilingName)
	minrpc, hasMin := find(rows, minRPCName)
	best, hasBest := bestOther(rows)
	fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---:|", len(header)))
	for _, r := range rows {
		l := r.res.Latency
		cells := []string{
			r.name,
			fmt.Sprintf("%.0f", r.res.TPS()),
			millis(l.Mean), millis(l.P50), millis(l.P99), millis(l.P999), millis(l.Max),
			fmt.Sprintf("%.1f", perCall(micros(r.serverCPU), r)),
			fmt.Sprintf("%.1f", perCall(micros(r.clientCPU), r)),
			fmt.Sprintf("%.1f", perCall(float64(r.serverMal), r)),
			fmt.Sprintf("%.1f", perCall(float64(r.res.ClientMallocs), r)),
			fmt.Sprintf("%.1f / %.1f", perSecond(float64(r.serverGCs), r), perSecond(float64(r.res.ClientGCs), r)),
			ratio(r, ceiling, hasCeiling),
			ratio(r, minrpc, hasMin),
			ratio(r, best, hasBest),
			fmt.Sprintf("%d / %d", r.res.OK, r.res.Sent),
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	fmt.Fprintln(w)
	if hasBest {
		fmt.Fprintf(w, "Best other framework: %s (%.0f TPS).\n", best.name, best.res.TPS())
	}
	subject, ok := find(rows, subjectName)
	if !ok {
		return
	}
	if hasMin {
		fmt.Fprintf(w, "%s beyond %s: server %+.1f µs/call, client %+.1f µs/call, %+.1f server and %+.1f client allocs/call, TPS × %s.\n",
			subjectName, minRPCName,
			perCall(micros(subject.serverCPU), subject)-perCall(micros(minrpc.serverCPU), minrpc),
			perCall(micros(subject.clientCPU), subject)-perCall(micros(minrpc.clientCPU), minrpc),
			perCall(float64(subject.serverMal), subject)-perCall(float64(minrpc.serverMal), minrpc),
			perCall(float64(subject.res.ClientMallocs), subject)-perCall(float64(minrpc.res.ClientMallocs), minrpc),
			ratio(subject, minrpc, true))
	}
	if hasBest {
		fmt.Fprintf(w, "%s against %s: TPS × %s, p99 %s ms against %s ms.\n",
			subjectName, best.name, ratio(subject, best, true), millis(subject.res.Latency.P99), millis(best.res.Latency.P99))
	}
}
