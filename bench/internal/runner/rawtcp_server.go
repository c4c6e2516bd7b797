package runner

import (
	"bufio"
	"errors"
	"net"
	"sync"

	"github.com/teleport-go/teleport/bench/pb"
)

// connServer accepts connections and runs serve on each in a goroutine of
// its own, closing and forgetting the connection when serve returns; stop
// closes the listener and every connection, and waits for them.
type connServer struct {
	lis   net.Listener
	serve func(net.Conn)
	wg    sync.WaitGroup

	// mu guards the fields below.
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// startConnServer listens on addr and serves each connection with serve.
func startConnServer(addr string, serve func(net.Conn)) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	s := &connServer{lis: lis, serve: serve, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return lis.Addr().String(), s.stop, nil
}

func (s *connServer) acceptLoop() {
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
		go func() {
			defer s.wg.Done()
			s.serve(c)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *connServer) stop() error {
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

// startRawServer starts the server of both raw-TCP ceilings: one goroutine
// per connection reads a frame, decodes the message, applies pb.SetReply,
// encodes it and buffers the reply; it flushes only when no more input is
// buffered, so a pipelined connection gets its replies coalesced into few
// writes. It is the least a server can do for this workload.
func startRawServer(addr string) (string, func() error, error) {
	return startConnServer(addr, serveRaw)
}

// serveRaw serves one connection of the raw server.
func serveRaw(c net.Conn) {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	var (
		hdr [frameHeaderLen]byte
		in  []byte
		out []byte
		msg pb.BenchmarkMessage
	)
	for {
		id, n, err := readHeader(br, &hdr)
		if err != nil {
			return
		}
		if in, err = readBody(br, in, n); err != nil {
			return
		}
		if err := pb.Unmarshal(in, &msg); err != nil {
			return
		}
		pb.SetReply(&msg)
		out = append(out[:0], hdr[:]...)
		if out, err = pb.AppendMarshal(out, &msg); err != nil {
			return
		}
		putHeader(out, len(out)-frameHeaderLen, id)
		if _, err := bw.Write(out); err != nil {
			return
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}
