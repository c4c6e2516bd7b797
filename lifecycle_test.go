package tp

import (
	"net"
	"sync"
	"testing"
)

// lifecycle records the PostListen and PreClose hooks it sees.
type lifecycle struct {
	mu       sync.Mutex // guards the fields below
	listened []net.Addr
	closes   int
	// atClose is whether the client session was still usable, and a new
	// dial still accepted, when PreClose ran.
	cliOk, dialOk bool
	cli           Session
}

func (l *lifecycle) Name() string { return "lifecycle" }

func (l *lifecycle) PostListen(p *Peer, addr net.Addr) *Rerror {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.listened = append(l.listened, addr)
	return nil
}

func (l *lifecycle) PreClose(p *Peer) *Rerror {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closes++
	l.cliOk = l.cli != nil && l.cli.IsOk()
	if l.cli != nil {
		c, err := net.Dial("tcp", l.listened[0].String())
		if l.dialOk = err == nil; err == nil {
			c.Close()
		}
	}
	return nil
}

// PostListen sees each served address before the first accept; PreClose
// runs once, first in Close: before the listeners close and the goaways
// go out.
func TestLifecycleHooks(t *testing.T) {
	l := &lifecycle{}
	p := newPair(t, nil, nil, func(srv, _ *Peer) {
		if err := srv.PluginContainer().Add(l); err != nil {
			t.Fatal(err)
		}
	})
	l.mu.Lock()
	if len(l.listened) != 1 || l.listened[0].String() != p.addr {
		t.Fatalf("PostListen saw %v, want %s", l.listened, p.addr)
	}
	l.cli = p.cliSess
	l.mu.Unlock()
	p.srv.Close()
	p.srv.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closes != 1 || !l.cliOk || !l.dialOk {
		t.Fatalf("PreClose ran %d times; client session usable then: %v; dial accepted then: %v", l.closes, l.cliOk, l.dialOk)
	}
}

// PullCmd.Sent tells a pull that never left from one that may have run.
func TestPullCmdSent(t *testing.T) {
	p := newPair(t, nil, nil, regHome)
	if cmd := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, new(int)); cmd.Rerror() != nil || !cmd.Sent() {
		t.Fatalf("answered pull: %v, sent %v", cmd.Rerror(), cmd.Sent())
	}
	p.cliSess.Close()
	if cmd := p.cliSess.Pull("/home/test_add", [2]int{1, 2}, new(int)); cmd.Rerror() == nil || cmd.Sent() {
		t.Fatalf("pull on a closed session: %v, sent %v", cmd.Rerror(), cmd.Sent())
	}
}
