package runner

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/teleport-go/teleport/bench/pb"
)

// MinRPC is the least an RPC framework does, with no framework: the
// generated marshalling, and on each connection length-prefixed frames
// carrying a seq and a route, multiplexed both ways. What teleport costs
// beyond it, per call, is what the framework itself costs.
//
// Frames are the raw-TCP ones (frameHeaderLen bytes: length, seq) whose
// body starts with a one-byte field: in a request the route's length, the
// route following it; in a reply a status, 0 for a body, 1 for an error
// text. The client is RawTCPMux's (a pending table by seq, one coalescing
// writer goroutine and one reader goroutine per connection, Pool
// connections shared round-robin). The server, unlike the raw ceilings'
// which answers each frame inline, does what an RPC server must: its
// reader goroutine looks the route up in a handler table, and each request
// runs in a goroutine of its own that decodes it into a new message, calls
// the handler and queues the encoded reply for the connection's one writer
// goroutine, which coalesces replies into few writes.
type MinRPC struct{}

// Name implements Runner.
func (MinRPC) Name() string { return "minrpc" }

// minRoute is the route of the benchmark call.
const minRoute = "/hello/say"

// Reply statuses of MinRPC.
const (
	minStatusOK    byte = 0
	minStatusError byte = 1
)

// minHandler answers one request; it owns req, which it may return.
type minHandler func(req *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error)

// minHandlers is the server's route table, fixed before it serves.
var minHandlers = map[string]minHandler{
	minRoute: func(req *pb.BenchmarkMessage) (*pb.BenchmarkMessage, error) {
		pb.SetReply(req)
		return req, nil
	},
}

// StartServer implements Runner.
func (MinRPC) StartServer(addr string) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	s := &minServer{lis: lis, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return lis.Addr().String(), s.stop, nil
}

// NewClient implements Runner.
func (MinRPC) NewClient(cfg ClientConfig) (Client, error) {
	mux, err := RawTCPMux{}.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	return &minClient{mux: mux.(*muxClient)}, nil
}

type minClient struct {
	mux *muxClient
}

// Call implements Client: it frames the route and the request, and reads
// the status before the reply.
func (cl *minClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	mc := cl.mux.conns[i%len(cl.mux.conns)]
	frame := reqPool.Get().(*[]byte)
	b := append((*frame)[:0], zeroHeader[:]...)
	b = append(b, byte(len(minRoute)))
	b = append(b, minRoute...)
	b, err := pb.AppendMarshal(b, req)
	if err != nil {
		reqPool.Put(frame)
		return err
	}
	*frame = b
	call, _ := cl.mux.callPool.Get().(*muxCall)
	if call == nil {
		call = &muxCall{done: make(chan error, 1)}
	}
	defer cl.mux.callPool.Put(call)
	if err := mc.send(frame, call); err != nil {
		return err
	}
	if err := <-call.done; err != nil {
		return err
	}
	if len(call.resp) == 0 {
		return errors.New("runner: minrpc reply without a status")
	}
	switch call.resp[0] {
	case minStatusOK:
		return pb.Unmarshal(call.resp[1:], reply)
	case minStatusError:
		return fmt.Errorf("runner: minrpc server: %s", call.resp[1:])
	}
	return fmt.Errorf("runner: minrpc reply status %d", call.resp[0])
}

// Close implements Client.
func (cl *minClient) Close() error { return cl.mux.Close() }

// minServer serves MinRPC.
type minServer struct {
	lis net.Listener
	wg  sync.WaitGroup

	// mu guards the fields below.
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// minBufPool recycles request bodies (from the reader goroutine to the
// request's goroutine, which returns them) and reply frames (from the
// request's goroutine to the writer goroutine, which returns them).
var minBufPool = sync.Pool{New: func() any { return new([]byte) }}

func (s *minServer) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.lis.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// minConn is one server connection: its reader is serveConn's goroutine,
// its writer writeLoop's; requests run in goroutines of their own between
// the two.
type minConn struct {
	c         net.Conn
	repliesCh chan *[]byte  // encoded reply frames for the writer
	doneCh    chan struct{} // closed when the reader ends: the writer stops
	handlers  sync.WaitGroup
}

func (s *minServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	mc := &minConn{c: c, repliesCh: make(chan *[]byte, 1024), doneCh: make(chan struct{})}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		mc.writeLoop()
	}()
	mc.readLoop()
	// Requests in flight finish (their replies go nowhere once the writer
	// has stopped) before the connection is forgotten.
	close(mc.doneCh)
	c.Close()
	<-writerDone
	mc.handlers.Wait()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (mc *minConn) readLoop() {
	br := bufio.NewReaderSize(mc.c, 32<<10)
	var hdr [frameHeaderLen]byte
	for {
		seq, n, err := readHeader(br, &hdr)
		if err != nil {
			return
		}
		body := minBufPool.Get().(*[]byte)
		if *body, err = readBody(br, *body, n); err != nil {
			minBufPool.Put(body)
			return
		}
		b := *body
		if len(b) == 0 || int(b[0]) > len(b)-1 {
			minBufPool.Put(body)
			return // a frame without its route: the peer is broken
		}
		h := minHandlers[string(b[1:1+int(b[0])])]
		mc.handlers.Add(1)
		go mc.handle(seq, h, body, 1+int(b[0]))
	}
}

// handle runs one request: it owns body, whose request starts at off, and
// gives the encoded reply to the writer.
func (mc *minConn) handle(seq uint64, h minHandler, body *[]byte, off int) {
	defer mc.handlers.Done()
	out := minBufPool.Get().(*[]byte)
	b := append((*out)[:0], zeroHeader[:]...)
	reply, err := mc.call(h, (*body)[off:])
	minBufPool.Put(body)
	if err == nil {
		b = append(b, minStatusOK)
		b, err = pb.AppendMarshal(b, reply)
	}
	if err != nil {
		b = append(b[:frameHeaderLen], minStatusError)
		b = append(b, err.Error()...)
	}
	putHeader(b, len(b)-frameHeaderLen, seq)
	*out = b
	select {
	case mc.repliesCh <- out:
	case <-mc.doneCh:
		minBufPool.Put(out)
	}
}

// call decodes the request into a new message, which the handler owns,
// and runs the handler; a nil handler is an unknown route.
func (mc *minConn) call(h minHandler, data []byte) (*pb.BenchmarkMessage, error) {
	if h == nil {
		return nil, errors.New("unknown route")
	}
	req := new(pb.BenchmarkMessage)
	if err := pb.Unmarshal(data, req); err != nil {
		return nil, err
	}
	return h(req)
}

func (mc *minConn) writeLoop() {
	bw := bufio.NewWriterSize(mc.c, 32<<10)
	for {
		select {
		case out := <-mc.repliesCh:
			_, err := bw.Write(*out)
			minBufPool.Put(out)
			if err == nil && len(mc.repliesCh) == 0 {
				err = bw.Flush()
			}
			if err != nil {
				mc.c.Close() // the reader fails next and ends the connection
				return
			}
		case <-mc.doneCh:
			return
		}
	}
}

func (s *minServer) stop() error {
	s.mu.Lock()
	s.closed = true
	err := s.lis.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
