package runner

import (
	"bufio"
	"errors"
	"net"
	"sync"

	"github.com/teleport-go/teleport/bench/pb"
)

// rawServer is the server of both raw-TCP ceilings: one goroutine per
// connection reads a frame, decodes the message, applies pb.SetReply,
// encodes it and buffers the reply; it flushes only when no more input is
// buffered, so a pipelined connection gets its replies coalesced into few
// writes. It is the least a server can do for this workload.
type rawServer struct {
	lis net.Listener
	wg  sync.WaitGroup

	// mu guards the fields below.
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func startRawServer(addr string) (string, func() error, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	s := &rawServer{lis: lis, conns: make(map[net.Conn]struct{})}
	s.wg.Add(1)
	go s.acceptLoop()
	return lis.Addr().String(), s.stop, nil
}

func (s *rawServer) acceptLoop() {
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

func (s *rawServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
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

func (s *rawServer) stop() error {
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
