package runner

import (
	"bufio"
	"errors"
	"net"
	"sync"

	"github.com/teleport-go/teleport/bench/pb"
)

// RawTCPConn is ceiling B: one connection per calling goroutine, each call
// a plain write of one frame followed by a blocking read of the reply. It
// shows what no multiplexing at all costs and gains; it ignores Pool and
// dials Concurrency connections.
type RawTCPConn struct{}

// Name implements Runner.
func (RawTCPConn) Name() string { return "rawtcp-conn" }

// StartServer implements Runner.
func (RawTCPConn) StartServer(addr string) (string, func() error, error) {
	return startRawServer(addr)
}

// NewClient implements Runner.
func (RawTCPConn) NewClient(cfg ClientConfig) (Client, error) {
	cl := &connClient{conns: make([]*seqConn, cfg.concurrency())}
	for i := range cl.conns {
		c, err := net.Dial("tcp", cfg.Addr)
		if err != nil {
			cl.Close()
			return nil, err
		}
		cl.conns[i] = &seqConn{c: c, br: bufio.NewReader(c)}
	}
	return cl, nil
}

type connClient struct {
	conns []*seqConn
}

// seqConn is a connection with at most one call in flight.
type seqConn struct {
	// mu guards the fields below; it is uncontended when every goroutine
	// index has its own connection, and keeps a call atomic when not.
	mu  sync.Mutex
	c   net.Conn
	br  *bufio.Reader
	seq uint64
	hdr [frameHeaderLen]byte
	buf []byte // request frame, then reply body
}

// Call implements Client.
func (cl *connClient) Call(i int, req, reply *pb.BenchmarkMessage) error {
	sc := cl.conns[i%len(cl.conns)]
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var err error
	sc.buf = append(sc.buf[:0], zeroHeader[:]...)
	if sc.buf, err = pb.AppendMarshal(sc.buf, req); err != nil {
		return err
	}
	sc.seq++
	putHeader(sc.buf, len(sc.buf)-frameHeaderLen, sc.seq)
	if _, err := sc.c.Write(sc.buf); err != nil {
		return err
	}
	id, n, err := readHeader(sc.br, &sc.hdr)
	if err != nil {
		return err
	}
	if id != sc.seq {
		return errors.New("runner: reply id does not match the request")
	}
	if sc.buf, err = readBody(sc.br, sc.buf, n); err != nil {
		return err
	}
	return pb.Unmarshal(sc.buf, reply)
}

// Close implements Client.
func (cl *connClient) Close() error {
	for _, sc := range cl.conns {
		if sc != nil {
			sc.c.Close()
		}
	}
	return nil
}
