package runner

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/bench/pb"
)

// MinRPC is the least an RPC framework does, with no framework: the
// generated marshalling, and on each connection length-prefixed frames
// carrying a seq and a route, multiplexed both ways, written through the
// coalescing writer a fast framework uses. What teleport costs beyond it,
// per call, is what the framework itself costs: routing by reflection,
// contexts, headers and metadata, plugins, logging.
//
// Frames are the raw-TCP ones (frameHeaderLen bytes: length, seq) whose
// body starts with a one-byte field: in a request the route's length, the
// route following it; in a reply a status, 0 for a body, 1 for an error
// text. On the client, Pool connections are shared round-robin; a call
// registers in its connection's pending table by seq, writes its frame
// through the connection's coalescer and waits for the reader goroutine to
// hand it the reply. On the server, the connection's reader looks the
// route up in a handler table and decodes the request into a new message,
// and each request runs in a goroutine of its own that calls the handler
// and writes the encoded reply through the connection's coalescer.
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

// minBufPool recycles frames from their encoding to the coalescer's copy
// of them.
var minBufPool = sync.Pool{New: func() any { return new([]byte) }}

// StartServer implements Runner.
func (MinRPC) StartServer(addr string) (string, func() error, error) {
	return startConnServer(addr, serveMin)
}

// NewClient implements Runner.
func (MinRPC) NewClient(cfg ClientConfig) (Client, error) {
	cl := &minClient{conns: make([]*minClientConn, cfg.pool())}
	for i := range cl.conns {
		c, err := net.Dial("tcp", cfg.Addr)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.conns[i] = newMinClientConn(c)
	}
	return cl, nil
}

type minClient struct {
	conns []*minClientConn
	// callPool recycles muxCall values, each with its reply buffer.
	callPool sync.Pool
}

// minClientConn is one client connection.
type minClientConn struct {
	c    net.Conn
	out  coalescer
	seq  atomic.Uint64
	wg   sync.WaitGroup // the reader
	once sync.Once      // closes c

	replies replyTable
}

func newMinClientConn(c net.Conn) *minClientConn {
	mc := &minClientConn{c: c, out: coalescer{w: c}}
	mc.wg.Add(1)
	go mc.readLoop()
	return mc
}

// Call implements Client.
func (cl *minClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	mc := cl.conns[i%len(cl.conns)]
	frame := minBufPool.Get().(*[]byte)
	defer minBufPool.Put(frame)
	b := append((*frame)[:0], zeroHeader[:]...)
	b = append(b, byte(len(minRoute)))
	b = append(b, minRoute...)
	b, err := pb.AppendMarshal(b, req)
	if err != nil {
		return err
	}
	*frame = b
	call, _ := cl.callPool.Get().(*muxCall)
	if call == nil {
		call = &muxCall{done: make(chan error, 1)}
	}
	defer cl.callPool.Put(call)

	id := mc.seq.Add(1)
	putHeader(b, len(b)-frameHeaderLen, id)
	if err := mc.replies.add(id, call); err != nil {
		return err
	}
	if err := mc.out.write(b); err != nil {
		mc.fail(err)
	}
	// Exactly one value arrives: the reply, or the failure that removed
	// the call from pending.
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
func (cl *minClient) Close() error {
	for _, mc := range cl.conns {
		if mc != nil {
			mc.fail(errConnClosed)
			mc.wg.Wait()
		}
	}
	return nil
}

func (mc *minClientConn) readLoop() {
	defer mc.wg.Done()
	mc.fail(mc.replies.readReplies(mc.c))
}

// fail ends every pending call with err and closes the connection.
func (mc *minClientConn) fail(err error) {
	mc.replies.failAll(err)
	mc.once.Do(func() { mc.c.Close() })
}

// minConn is one server connection: serveMin's goroutine reads it, the
// requests' goroutines write it through out.
type minConn struct {
	c        net.Conn
	out      coalescer
	handlers sync.WaitGroup
}

// serveMin serves one MinRPC connection.
func serveMin(c net.Conn) {
	mc := &minConn{c: c, out: coalescer{w: c}}
	mc.readLoop()
	// Requests in flight finish (their writes fail once the connection is
	// closed) before the connection is forgotten.
	c.Close()
	mc.handlers.Wait()
}

// readLoop reads requests and decodes each, as net/rpc's server does,
// in this goroutine: the generated decoder of a message with a hundred
// fields has a large frame, and decoding in a new goroutine would grow its
// stack on every request.
func (mc *minConn) readLoop() {
	br := bufio.NewReaderSize(mc.c, 32<<10)
	var hdr [frameHeaderLen]byte
	var body []byte
	for {
		seq, n, err := readHeader(br, &hdr)
		if err != nil {
			return
		}
		if body, err = readBody(br, body, n); err != nil {
			return
		}
		if len(body) == 0 || int(body[0]) > len(body)-1 {
			return // a frame without its route: the peer is broken
		}
		h := minHandlers[string(body[1:1+int(body[0])])]
		var req *pb.BenchmarkMessage
		if h == nil {
			err = errors.New("unknown route")
		} else {
			req = new(pb.BenchmarkMessage)
			err = pb.Unmarshal(body[1+int(body[0]):], req)
		}
		mc.handlers.Add(1)
		go mc.handle(seq, h, req, err)
	}
}

// handle runs one request, or answers the error that stopped it reaching
// its handler, and writes the reply.
func (mc *minConn) handle(seq uint64, h minHandler, req *pb.BenchmarkMessage, err error) {
	defer mc.handlers.Done()
	var reply *pb.BenchmarkMessage
	if err == nil {
		reply, err = h(req)
	}
	out := minBufPool.Get().(*[]byte)
	b := append((*out)[:0], zeroHeader[:]...)
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
	if err := mc.out.write(b); err != nil {
		mc.c.Close() // the reader fails next and ends the connection
	}
	minBufPool.Put(out)
}
