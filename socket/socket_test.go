package socket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"

	"github.com/teleport-go/teleport/internal/loopback"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// socketPair returns two connected sockets over the named transport.
func socketPair(t testing.TB, transport string) (a, b Socket) {
	t.Helper()
	var ca, cb net.Conn
	switch transport {
	case "pipe":
		ca, cb = net.Pipe()
	case "tcp":
		ca, cb = loopback.TCPPair(t)
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	a, b = NewSocket(ca), NewSocket(cb)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

var transports = []string{"pipe", "tcp"}

// Fifty goroutines write on one socket at once; every frame must arrive
// whole, with its own body.
func TestConcurrentWritersProduceWholeFrames(t *testing.T) {
	const writers, perWriter = 50, 40
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			w, r := socketPair(t, transport)
			readErr := make(chan error, 1)
			go func() {
				seen := make(map[uint64]bool)
				p := NewPacket()
				for len(seen) < writers*perWriter {
					var body []byte
					p.Reset(WithNewBody(func(Header) interface{} { return &body }))
					if err := r.ReadPacket(p); err != nil {
						readErr <- err
						return
					}
					want := bodyFor(p.Seq())
					if !bytes.Equal(body, want) || p.Uri() != fmt.Sprintf("/w/%d", p.Seq()/perWriter) {
						readErr <- fmt.Errorf("frame seq %d: uri %q body %q, want body %q", p.Seq(), p.Uri(), body, want)
						return
					}
					if seen[p.Seq()] {
						readErr <- fmt.Errorf("seq %d twice", p.Seq())
						return
					}
					seen[p.Seq()] = true
				}
				readErr <- nil
			}()
			var wg sync.WaitGroup
			for i := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range perWriter {
						seq := uint64(i*perWriter + j)
						p := GetPacket(WithSeq(seq), WithPtype(3), WithUri(fmt.Sprintf("/w/%d", i)),
							WithBodyCodec('s'), WithBody(bodyFor(seq)))
						if err := w.WritePacket(p); err != nil {
							t.Errorf("WritePacket: %v", err)
						}
						PutPacket(p)
					}
				}()
			}
			wg.Wait()
			if err := <-readErr; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// bodyFor returns a body whose length and content depend on seq, so a torn
// or swapped frame cannot pass.
func bodyFor(seq uint64) []byte {
	return bytes.Repeat([]byte{byte('a' + seq%26)}, int(seq%700)+1)
}

func TestSocketIdAndPublic(t *testing.T) {
	a, _ := socketPair(t, "tcp")
	if a.Id() != a.RemoteAddr().String() {
		t.Fatalf("default Id = %q, want the remote address %q", a.Id(), a.RemoteAddr())
	}
	a.SetId("alice")
	if a.Id() != "alice" {
		t.Fatalf("Id = %q after SetId", a.Id())
	}
	a.Public().Store("k", 1)
	if a.PublicLen() != 1 {
		t.Fatalf("PublicLen = %d, want 1", a.PublicLen())
	}
}

func TestReadAfterPeerCloseIsEOF(t *testing.T) {
	for _, transport := range transports {
		t.Run(transport, func(t *testing.T) {
			a, b := socketPair(t, transport)
			a.Close()
			err := b.ReadPacket(NewPacket())
			if !errors.Is(err, io.EOF) {
				t.Fatalf("ReadPacket after close = %v, want io.EOF", err)
			}
		})
	}
}

func TestGetSocketReusesAndCloseOnce(t *testing.T) {
	ca, cb := net.Pipe()
	defer cb.Close()
	s := GetSocket(ca)
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v, want net.ErrClosed", err)
	}
}

// jsonLines is a custom Proto used to check that sockets honour protoFunc.
type jsonLinesProto struct{ rw io.ReadWriter }

func (jsonLinesProto) Version() (byte, string) { return 'l', "lines" }
func (j jsonLinesProto) Pack(p *Packet) error {
	_, err := fmt.Fprintf(j.rw, "%d %s\n", p.Seq(), p.Uri())
	return err
}
func (j jsonLinesProto) Unpack(p *Packet) error {
	var seq uint64
	var uri string
	if _, err := fmt.Fscanf(j.rw, "%d %s\n", &seq, &uri); err != nil {
		return err
	}
	p.SetSeq(seq)
	p.SetUri(uri)
	return nil
}

func TestSocketUsesGivenProto(t *testing.T) {
	ca, cb := net.Pipe()
	lines := func(rw io.ReadWriter) Proto { return jsonLinesProto{rw} }
	a, b := NewSocket(ca, lines), NewSocket(cb, nil, lines)
	defer a.Close()
	defer b.Close()
	go a.WritePacket(NewPacket(WithSeq(9), WithUri("/x")))
	p := NewPacket()
	if err := b.ReadPacket(p); err != nil {
		t.Fatal(err)
	}
	if p.Seq() != 9 || p.Uri() != "/x" {
		t.Fatalf("got %s", p)
	}
}

// TestPollConnAllocs: PollConn, called at each park of an idle
// connection, allocates nothing once the connection has parked before.
func TestPollConnAllocs(t *testing.T) {
	a, _ := socketPair(t, "tcp")
	s := a.(*socket)
	if _, ok := s.PollConn(); !ok {
		t.Fatal("PollConn: not ok")
	}
	if n := testing.AllocsPerRun(100, func() { s.PollConn() }); n > 0 {
		t.Errorf("PollConn: %v allocations", n)
	}
}

// gateWriter is a connection whose Write of a frame can be held until a
// gate opens, to let other writers queue behind it.
type gateWriter struct {
	bytes.Buffer
	hold chan struct{} // when non-nil, Write waits for it to close
}

func (g *gateWriter) Write(p []byte) (int, error) {
	if g.hold != nil {
		<-g.hold
	}
	return g.Buffer.Write(p)
}

// TestFlusherYieldsOnlyWithCompany: a connection whose writers come one
// at a time stops yielding before each write after yieldAfterAlone
// flushes, yielding on every yieldProbe-th flush only; frames that join a
// flush make it yield before every write again.
func TestFlusherYieldsOnlyWithCompany(t *testing.T) {
	var conn gateWriter
	f := NewFastProtoFunc(struct {
		io.Reader
		io.Writer
	}{nil, &conn}).(*fastProto)
	pack := func() {
		if err := f.Pack(NewPacket(WithSeq(1), WithPtype(1), WithUri("/a"), WithBodyCodec('s'), WithBody("x"))); err != nil {
			t.Error(err)
		}
	}
	const lone = 20
	for range lone {
		pack()
	}
	// Flushes 1 to 4 yield; of 5 to 20, the 8th and the 16th.
	if want := uint(yieldAfterAlone + 2); f.yields != want {
		t.Fatalf("%d lone flushes yielded %d times, want %d", lone, f.yields, want)
	}

	// The next flush finds a frame queued while it writes: company.
	conn.hold = make(chan struct{})
	first := make(chan struct{})
	go func() { pack(); close(first) }()
	waitQueued := func(n int) {
		for {
			f.wmu.Lock()
			queued := f.flushing && (n == 0 || f.queue != nil && f.queue.frames >= n)
			f.wmu.Unlock()
			if queued {
				return
			}
			runtime.Gosched()
		}
	}
	waitQueued(0) // the flusher is in its Write
	second := make(chan struct{})
	go func() { pack(); close(second) }()
	waitQueued(1) // the second frame waits behind it
	close(conn.hold)
	<-first
	<-second
	conn.hold = nil
	before := f.yields
	pack()
	if f.yields != before+1 {
		t.Fatalf("after a flush with company, the next one did not yield (%d yields, had %d)", f.yields, before)
	}
}
