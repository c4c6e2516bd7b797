// Command client loads a benchmark server with the workload and prints the
// numbers of the common Go RPC benchmark's client: total time, sent,
// received and OK counts, TPS and the latency distribution.
//
// Usage:
//
//	go run ./cmd/client [-s 127.0.0.1:8972] [-c 100] [-n 200000 | -d 10s] [-pool 10] [-kind teleport] [-size 0]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/teleport-go/teleport/bench/internal/load"
	"github.com/teleport-go/teleport/bench/internal/runner"
	"github.com/teleport-go/teleport/bench/pb"
)

func main() {
	var (
		server      = flag.String("s", "127.0.0.1:8972", "server address")
		concurrency = flag.Int("c", 100, "concurrent calling goroutines")
		total       = flag.Int64("n", 200000, "total calls")
		duration    = flag.Duration("d", 0, "run for this long instead of -n calls")
		pool        = flag.Int("pool", 10, "connections shared round-robin by the goroutines")
		kind        = flag.String("kind", "teleport", "runner of the server: "+strings.Join(runner.Names(), ", "))
		cpuOut      = flag.String("cpuprofile", "", "write a CPU profile of the client to this file (for go tool pprof)")
		size        = flag.Int("size", 0, "request size in bytes (0: the standard 581-byte message)")
	)
	flag.Parse()
	if *cpuOut != "" {
		f, err := os.Create(*cpuOut)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *concurrency < 1 || *pool < 1 || (*duration <= 0 && *total < 1) {
		fmt.Fprintln(os.Stderr, "client: -c, -pool and -n (or -d) must be positive")
		os.Exit(2)
	}

	req, err := pb.NewRequestSize(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	r, err := runner.Lookup(*kind)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	cl, err := r.NewClient(runner.ClientConfig{Addr: *server, Pool: *pool, Concurrency: *concurrency})
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
	fmt.Printf("%s client: server %s, concurrency %d, connections %d\n", r.Name(), *server, *concurrency, *pool)
	res := load.Run(cl, load.Config{
		Concurrency: *concurrency,
		Total:       *total,
		Duration:    *duration,
		Progress:    os.Stdout,
		Request:     req,
	})
	cl.Close()
	res.Write(os.Stdout)
	if res.Err != nil {
		fmt.Fprintln(os.Stderr, "client: first error:", res.Err)
	}
	if res.OK != res.Sent {
		os.Exit(1)
	}
}
