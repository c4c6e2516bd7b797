package socket

import (
	"bufio"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/henrylee2cn/goutil"
	"github.com/teleport-go/teleport/internal/seqpacket"
)

// Socket is a connection that reads and writes packets through a Proto.
// Its methods are safe for concurrent use.
type Socket interface {
	net.Conn
	// WritePacket writes p as one frame; frames of concurrent callers
	// never interleave.
	WritePacket(p *Packet) error
	// ReadPacket reads the next frame into p; concurrent callers take
	// frames in turn.
	ReadPacket(p *Packet) error
	// Public returns per-connection scratch data.
	Public() goutil.Map
	// PublicLen returns the number of entries in Public.
	PublicLen() int
	// Id returns the socket id, the remote address unless set.
	Id() string
	// SetId sets the socket id.
	SetId(string)
}

type socket struct {
	net.Conn
	br    *bufio.Reader
	proto Proto

	// rmu serialises ReadPacket: a Proto has one reader at a time.
	rmu sync.Mutex

	// idMu guards id.
	idMu sync.RWMutex
	id   string

	public   goutil.Map
	fromPool bool
	closed   atomic.Bool
}

var _ Socket = (*socket)(nil)

var socketPool = sync.Pool{New: func() any { return new(socket) }}

// NewSocket wraps c. The protocol is the first non-nil protoFunc, or the
// default one.
func NewSocket(c net.Conn, protoFunc ...ProtoFunc) Socket {
	s := new(socket)
	s.init(c, protoFunc)
	return s
}

// GetSocket is NewSocket with the socket taken from a pool; Close returns
// it there, so it must not be used after Close.
func GetSocket(c net.Conn, protoFunc ...ProtoFunc) Socket {
	s := socketPool.Get().(*socket)
	s.init(c, protoFunc)
	s.fromPool = true
	return s
}

func (s *socket) init(c net.Conn, protoFunc []ProtoFunc) {
	applyTCPSettings(c)
	s.Conn = c
	// A message-oriented connection is read and written as a stream.
	c = seqpacket.Wrap(c)
	s.Conn = c
	size := ReadBufferSize()
	if s.br != nil && s.br.Size() == size {
		s.br.Reset(c)
	} else {
		s.br = bufio.NewReaderSize(c, size)
	}
	s.proto = pickProtoFunc(protoFunc)(bufConn{s.br, c})
	s.id = ""
	s.public = goutil.RwMap()
	s.closed.Store(false)
}

// bufConn reads through the socket's buffer and writes to the connection
// directly: Pack implementations do their own buffering.
type bufConn struct {
	r *bufio.Reader
	w io.Writer
}

func (b bufConn) Read(p []byte) (int, error)  { return b.r.Read(p) }
func (b bufConn) Write(p []byte) (int, error) { return b.w.Write(p) }

func (s *socket) WritePacket(p *Packet) error {
	return s.proto.Pack(p)
}

func (s *socket) ReadPacket(p *Packet) error {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	return s.proto.Unpack(p)
}

func (s *socket) Public() goutil.Map { return s.public }

func (s *socket) PublicLen() int { return s.public.Len() }

func (s *socket) Id() string {
	s.idMu.RLock()
	id := s.id
	s.idMu.RUnlock()
	if id == "" {
		return s.RemoteAddr().String()
	}
	return id
}

func (s *socket) SetId(id string) {
	s.idMu.Lock()
	s.id = id
	s.idMu.Unlock()
}

// Close closes the connection once; a pooled socket then returns to its
// pool.
func (s *socket) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	err := s.Conn.Close()
	if s.fromPool {
		s.fromPool = false
		s.proto = nil
		s.public = nil
		socketPool.Put(s)
	}
	return err
}
