package runner

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"

	"github.com/teleport-go/teleport/bench/pb"
)

// RawTCPMux is ceiling A: calls multiplexed over Pool connections, as an
// RPC framework does it with the least machinery. Per connection, one
// writer goroutine drains a queue into a bufio.Writer and flushes only when
// the queue is empty, coalescing concurrent requests into one write; one
// reader goroutine hands each reply to its caller by request id.
type RawTCPMux struct{}

// Name implements Runner.
func (RawTCPMux) Name() string { return "rawtcp-mux" }

// StartServer implements Runner.
func (RawTCPMux) StartServer(addr string) (string, func() error, error) {
	return startRawServer(addr)
}

// NewClient implements Runner.
func (RawTCPMux) NewClient(cfg ClientConfig) (Client, error) {
	cl := &muxClient{conns: make([]*muxConn, cfg.pool())}
	for i := range cl.conns {
		c, err := net.Dial("tcp", cfg.Addr)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.conns[i] = newMuxConn(c)
	}
	return cl, nil
}

// errConnClosed ends calls on a connection that was closed or failed.
var errConnClosed = errors.New("runner: connection closed")

type muxClient struct {
	conns []*muxConn
	// callPool recycles muxCall values so that a call allocates nothing
	// beyond what decoding the reply needs.
	callPool sync.Pool
}

// muxCall is one call in flight, owned by its caller except between
// registration in pending and the value sent on done, when the reader
// goroutine (or fail) owns it.
type muxCall struct {
	resp []byte // reply body
	done chan error
}

// reqPool recycles request frames. A frame passes from the caller to the
// writer goroutine, which returns it here once written: the caller cannot
// tell when the writer is done with it, so it must not reuse it itself.
var reqPool = sync.Pool{New: func() any { return new([]byte) }}

// Call implements Client.
func (cl *muxClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	mc := cl.conns[i%len(cl.conns)]
	frame := reqPool.Get().(*[]byte)
	b, err := pb.AppendMarshal(append((*frame)[:0], zeroHeader[:]...), req)
	if err != nil {
		reqPool.Put(frame)
		return err
	}
	*frame = b
	call, _ := cl.callPool.Get().(*muxCall)
	if call == nil {
		call = &muxCall{done: make(chan error, 1)}
	}
	defer cl.callPool.Put(call)
	if err := mc.send(frame, call); err != nil {
		return err
	}
	if err := <-call.done; err != nil {
		return err
	}
	return pb.Unmarshal(call.resp, reply)
}

// Close implements Client.
func (cl *muxClient) Close() error {
	for _, mc := range cl.conns {
		if mc != nil {
			mc.close()
		}
	}
	return nil
}

type muxConn struct {
	c       net.Conn
	seq     atomic.Uint64
	queueCh chan *[]byte  // request frames for the writer goroutine
	doneCh  chan struct{} // closed by fail; stops the writer and senders
	wg      sync.WaitGroup
	once    sync.Once

	replies replyTable
}

func newMuxConn(c net.Conn) *muxConn {
	mc := &muxConn{
		c:       c,
		queueCh: make(chan *[]byte, 1024),
		doneCh:  make(chan struct{}),
	}
	mc.wg.Add(2)
	go mc.writeLoop()
	go mc.readLoop()
	return mc
}

// send registers call under a fresh id and queues its frame for the
// writer, which then owns the frame.
func (mc *muxConn) send(frame *[]byte, call *muxCall) error {
	id := mc.seq.Add(1)
	putHeader(*frame, len(*frame)-frameHeaderLen, id)
	if err := mc.replies.add(id, call); err != nil {
		return err
	}
	select {
	case mc.queueCh <- frame:
		return nil
	case <-mc.doneCh:
		// The reader's failAll may already have ended the call; take it
		// back only if it is still pending, so done receives exactly one
		// value.
		if mc.replies.take(id) == nil {
			return <-call.done
		}
		return errConnClosed
	}
}

func (mc *muxConn) writeLoop() {
	defer mc.wg.Done()
	bw := bufio.NewWriterSize(mc.c, 32<<10)
	for {
		select {
		case frame := <-mc.queueCh:
			_, err := bw.Write(*frame)
			reqPool.Put(frame)
			if err != nil {
				mc.fail(err)
				return
			}
			if len(mc.queueCh) == 0 {
				if err := bw.Flush(); err != nil {
					mc.fail(err)
					return
				}
			}
		case <-mc.doneCh:
			return
		}
	}
}

func (mc *muxConn) readLoop() {
	defer mc.wg.Done()
	mc.fail(mc.replies.readReplies(mc.c))
}

// fail ends every pending call with err and closes the connection.
func (mc *muxConn) fail(err error) {
	mc.replies.failAll(err)
	mc.once.Do(func() { close(mc.doneCh) })
	mc.c.Close()
}

func (mc *muxConn) close() {
	mc.fail(errConnClosed)
	mc.wg.Wait()
}
