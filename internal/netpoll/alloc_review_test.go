//go:build linux

package netpoll

import "testing"

// TestArmAllocs: re-arming a watch (once per idle spell of a session)
// allocates nothing.
func TestArmAllocs(t *testing.T) {
	p := newPoller(t)
	a, b := tcpPair(t)
	rc := rawConn(t, b)
	fired := make(chan struct{}, 1)
	fire := func() { fired <- struct{}{} }
	var w Watch
	buf := make([]byte, 1)
	cycle := func() {
		if err := p.Arm(&w, rc, fire); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Write(buf); err != nil {
			t.Fatal(err)
		}
		<-fired
		if _, err := b.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	if n := testing.AllocsPerRun(200, cycle); n > 0 {
		t.Errorf("Arm+fire cycle: %v allocations", n)
	}
	p.Forget(&w)
}
