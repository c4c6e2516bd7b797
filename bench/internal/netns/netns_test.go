//go:build linux

package netns

import (
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLinkDownAndUp: a connection across a link carries bytes, stalls
// without an error while the link is down, goes on once it is up, and the
// namespaces are gone after Close.
func TestLinkDownAndUp(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("skipped: %v", err)
	}
	n, err := New("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	l, err := n.Connect("a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var lis net.Listener
	if err := In(l.B, func() (err error) { lis, err = net.Listen("tcp", l.AddrB+":0"); return }); err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	// Not reachable from this process's own namespace.
	if c, err := net.DialTimeout("tcp", lis.Addr().String(), 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the namespace's address was reachable from outside it")
	}
	c, err := n.Dialer(l.A)("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	echo := func(deadline time.Duration) error {
		_ = c.SetDeadline(time.Now().Add(deadline))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		return err
	}
	if err := echo(2 * time.Second); err != nil {
		t.Fatalf("before the cut: %v", err)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if err := echo(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("across a cut link: %v, want a timeout", err)
	}
	if err := l.Up(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 4) // the ping of the cut, retransmitted
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("after the heal: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.id) {
		t.Fatalf("namespaces left after Close:\n%s", out)
	}
}
