package socket

import (
	"net"
	"sync/atomic"
	"time"
)

// Connection settings, read when a socket is made. They are package-level
// because they describe the process's network stack use, not one peer.
var (
	readBufferSize  atomic.Int64
	tcpNoDelay      atomic.Bool
	keepAlivePeriod atomic.Int64
	tcpReadBuffer   atomic.Int64
	tcpWriteBuffer  atomic.Int64
)

// Defaults of the connection settings.
const (
	DefaultReadBufferSize  = 8 << 10
	DefaultKeepAlivePeriod = 15 * time.Second
)

// keepAliveProbes is how many keep-alive probes go unanswered before the
// kernel ends a connection (Linux's default).
const keepAliveProbes = 9

func init() {
	readBufferSize.Store(DefaultReadBufferSize)
	tcpNoDelay.Store(true)
	keepAlivePeriod.Store(int64(DefaultKeepAlivePeriod))
}

// SetReadBufferSize sets the base size of the read buffers of the sockets
// set up afterwards; n <= 0 restores DefaultReadBufferSize. A buffer is
// taken from a pool while frames are being read and given back once they
// are consumed. A connection whose read fills its buffer takes one twice
// the size for the next batch, up to 8 times the base size; one whose
// reads use a quarter of it or less, or whose wait ends with nothing, goes
// back down. The rest of a frame that has not all arrived is always read
// into a buffer of the base size.
func SetReadBufferSize(n int) {
	if n <= 0 {
		n = DefaultReadBufferSize
	}
	readBufferSize.Store(int64(n))
}

// ReadBufferSize returns the base size of each socket's read buffers.
func ReadBufferSize() int { return int(readBufferSize.Load()) }

// SetNoDelay sets TCP_NODELAY on new TCP sockets (true by default: the
// write path already coalesces frames, so Nagle only adds latency).
func SetNoDelay(noDelay bool) { tcpNoDelay.Store(noDelay) }

// SetKeepAlivePeriod sets the TCP keep-alive period of new TCP sockets:
// after d without traffic the kernel probes the other side every d, and
// ends the connection after 9 unanswered probes, so an idle connection
// whose other end vanished without a FIN (a cut link, a host gone) fails
// after about 10 × d (150 s by default). Keep-alive probes only an idle
// connection: one with unacknowledged data waits for TCP's retransmissions
// to give up instead (many minutes on Linux); the heartbeat plugin
// detects both. d < 0 turns keep-alive off, 0 restores
// DefaultKeepAlivePeriod.
func SetKeepAlivePeriod(d time.Duration) {
	if d == 0 {
		d = DefaultKeepAlivePeriod
	}
	keepAlivePeriod.Store(int64(d))
}

// SetTCPBufferSizes sets the kernel receive and send buffer sizes of new
// TCP sockets; 0 leaves the operating system's default.
func SetTCPBufferSizes(read, write int) {
	tcpReadBuffer.Store(int64(read))
	tcpWriteBuffer.Store(int64(write))
}

// applyTCPSettings tunes c when it is a TCP connection. Errors are ignored:
// each setting is an optimisation, and the connection works without it.
func applyTCPSettings(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	_ = tc.SetNoDelay(tcpNoDelay.Load())
	if d := time.Duration(keepAlivePeriod.Load()); d > 0 {
		// Interval too: SetKeepAlivePeriod sets only the idle time, which
		// left the probes 15 s apart (the dialer's default) whatever d.
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: d, Interval: d, Count: keepAliveProbes})
	} else {
		_ = tc.SetKeepAlive(false)
	}
	if n := tcpReadBuffer.Load(); n > 0 {
		_ = tc.SetReadBuffer(int(n))
	}
	if n := tcpWriteBuffer.Load(); n > 0 {
		_ = tc.SetWriteBuffer(int(n))
	}
}
