package tp

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
)

// schemeRuns numbers the schemes the tests register: the registry is
// global, and a test may run more than once in a process (-count).
var schemeRuns atomic.Int32

// testScheme returns a scheme named after name that no test registered yet.
func testScheme(name string) string {
	return fmt.Sprintf("%s-%d", name, schemeRuns.Add(1))
}

// TestRegDialer dials through a registered scheme, redials through it, and
// leaves other addresses to the peer's Network.
func TestRegDialer(t *testing.T) {
	lis := listenLoopback(t)
	var dials atomic.Int32
	scheme := testScheme("test-tcp")
	RegDialer(scheme, func(ctx context.Context, p *Peer, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", strings.TrimPrefix(addr, scheme+"://"))
	})
	watch := &acceptWatch{ch: make(chan PreSession, 4)}
	srv := NewPeer(nil, watch)
	srv.PullRouter.Reg(new(Home))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	cli := NewPeer(&PeerConfig{RedialTimes: 3})
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
		<-served
	})

	sess, rerr := cli.Dial(scheme + "://" + lis.Addr().String())
	if rerr != nil {
		t.Fatalf("Dial: %v", rerr)
	}
	if got := dials.Load(); got != 1 {
		t.Fatalf("the DialFunc ran %d times, want 1", got)
	}
	(<-watch.ch).(Session).Close() // the server drops the connection
	<-watch.ch                     // and accepts the redial
	if got := dials.Load(); got != 2 {
		t.Errorf("after a redial the DialFunc ran %d times, want 2", got)
	}
	var sum int
	waitFor(t, "a pull on the redialed session", func() bool {
		return sess.Pull("/home/test_add", &[2]int{1, 2}, &sum).Rerror() == nil
	})

	if _, rerr := cli.Dial(lis.Addr().String()); rerr != nil {
		t.Errorf("a plain address: %v", rerr)
	}
	if got := dials.Load(); got != 2 {
		t.Errorf("a plain address went through the DialFunc")
	}
	if _, rerr := cli.Dial("no-such-scheme://" + lis.Addr().String()); rerr == nil {
		t.Errorf("an unregistered scheme was dialed as an address")
	}
}

func TestRegDialerPanics(t *testing.T) {
	dial := func(context.Context, *Peer, string) (net.Conn, error) { return nil, nil }
	dup, unused := testScheme("test-dup"), testScheme("test-nil")
	RegDialer(dup, dial)
	for _, tt := range []struct {
		name   string
		scheme string
		dial   DialFunc
		want   string
	}{
		{"empty scheme", "", dial, "invalid scheme"},
		{"scheme with ://", "a://", dial, "invalid scheme"},
		{"nil DialFunc", unused, nil, "nil DialFunc"},
		{"duplicate", dup, dial, "registered twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				msg, _ := recover().(string)
				if !strings.Contains(msg, tt.want) {
					t.Errorf("panic %q, want one naming %q", msg, tt.want)
				}
			}()
			RegDialer(tt.scheme, tt.dial)
		})
	}
}
