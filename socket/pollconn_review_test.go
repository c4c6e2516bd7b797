package socket

import (
	"net"
	"testing"
)

// TestPollConnAllocs: PollConn, called at each park of an idle
// connection, allocates nothing once the connection has parked before.
func TestPollConnAllocs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			var b [1]byte
			c.Read(b[:])
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := NewSocket(c).(*socket)
	defer s.Close()
	if _, ok := s.PollConn(); !ok {
		t.Fatal("PollConn: not ok")
	}
	if n := testing.AllocsPerRun(100, func() { s.PollConn() }); n > 0 {
		t.Errorf("PollConn: %v allocations", n)
	}
}
