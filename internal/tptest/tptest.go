// Package tptest holds the helpers the tests of teleport's sub-packages
// share: serving a peer on loopback for one test, routing every log line,
// formatted, to a discarding handler, and an echoing stream controller.
package tptest

import (
	"io"
	"log/slog"
	"net"
	"testing"

	tp "github.com/teleport-go/teleport"
)

// DiscardLogs formats every log line (TRACE) into a discarding handler, so
// that the logging paths run under -race without noise. Call it in
// TestMain.
func DiscardLogs() {
	tp.SetLogger(tp.NewSlogLogger(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.Level(-100)})))
	tp.SetLoggerLevel("TRACE")
}

// Serve serves srv on an OS-chosen loopback port until the test ends, then
// closes it and checks Serve's result; it returns the address.
func Serve(t testing.TB, srv *tp.Peer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return lis.Addr().String()
}
