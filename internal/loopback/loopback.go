// Package loopback gives tests connected loopback TCP connections. It
// imports nothing of the module, so the tests of every package (socket's
// included) can use it.
package loopback

import (
	"net"
	"testing"
)

// TCPPair returns the dialing and the accepted end of a loopback TCP
// connection on an OS-chosen port. Both are closed when the test ends; a
// test may close them earlier.
func TCPPair(t testing.TB) (dialed, accepted *net.TCPConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	acceptCh := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept() // nil on failure
		acceptCh <- c
	}()
	d, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-acceptCh
	if a == nil {
		d.Close()
		t.Fatal("loopback: accept failed")
	}
	t.Cleanup(func() { d.Close(); a.Close() })
	return d.(*net.TCPConn), a.(*net.TCPConn)
}
