package tp

import (
	"io"
	"testing"
	"time"

	"github.com/teleport-go/teleport/socket"
)

// Windows reads streams and answers with the receive window it ended with.
type Windows struct{ StreamCtx }

// Drain reads every message as fast as it comes.
func (w *Windows) Drain(*struct{}) *Rerror { return w.readAll(false) }

// Flood sends *n messages of 1000 bytes.
func (w *Windows) Flood(n *int) *Rerror {
	b := make([]byte, 1000)
	for range *n {
		if err := w.Send(b); err != nil {
			return NewRerror(CodeWriteFailed, "send", err.Error())
		}
	}
	return nil
}

// Paced reads a message only once three wait in its queue (or the sender
// is done): a reader slower than its sender, which waits for credit.
func (w *Windows) Paced(*struct{}) *Rerror { return w.readAll(true) }

func (w *Windows) readAll(paced bool) *Rerror {
	st := w.StreamCtx.(*stream)
	w.SendHeader() // the accept, with the window: Recv would send it too late
	var b []byte
	for {
		for paced && !st.queueHolds(3) {
			select {
			case <-w.Context().Done():
				return nil
			case <-time.After(100 * time.Microsecond):
			}
		}
		if err := w.Recv(&b); err == io.EOF {
			break
		} else if err != nil {
			return NewRerror(CodeBadPacket, "recv", err.Error())
		}
	}
	st.mu.Lock()
	window := st.window
	st.mu.Unlock()
	if err := w.Send(window); err != nil {
		return NewRerror(CodeWriteFailed, "send", err.Error())
	}
	return nil
}

// queueHolds says whether n messages wait in the queue, or the other
// side is done sending.
func (st *stream) queueHolds(n int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.queue) >= n || st.remoteEnded || st.ended
}

// TestStreamWindowGrows: a receive window doubles, up to StreamWindowMax,
// when its reader keeps up with a sender that waits for credit, and stays
// as it is when the reader is the slow one, when growth is off, and when
// the window was set for the stream.
func TestStreamWindowGrows(t *testing.T) {
	const window, msg, msgs = 4096, 1000, 400
	tests := []struct {
		name      string
		maxWindow int
		uri       string
		want      int64
	}{
		{"a fast reader grows it to the most", 16 * window, "/windows/drain", 16 * window},
		{"up to StreamWindowMax", 4 * window, "/windows/drain", 4 * window},
		{"growth off", -1, "/windows/drain", window},
		{"a slow reader keeps it", 16 * window, "/windows/paced", window},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &PeerConfig{StreamWindow: window, StreamWindowMax: tt.maxWindow}
			p := newPair(t, cfg, nil, func(srv, cli *Peer) { srv.StreamRouter.Reg(new(Windows)) })
			st, rerr := p.cliSess.OpenStream(tt.uri, nil)
			if rerr != nil {
				t.Fatal(rerr)
			}
			defer st.Close()
			sent := make(chan error, 1)
			go func() {
				b := make([]byte, msg)
				for range msgs {
					if err := st.Send(b); err != nil {
						sent <- err
						return
					}
				}
				sent <- st.CloseSend()
			}()
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			var got int64
			if err := st.Recv(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("the receive window ended at %d bytes, want %d", got, tt.want)
			}
		})
	}
}

// TestStreamWindowSetPerStreamDoesNotGrow: a window given with
// WithStreamWindow or SetRecvWindow stays what it was set to, even read
// fast; the peer's default grows.
func TestStreamWindowSetPerStreamDoesNotGrow(t *testing.T) {
	const window = 4096
	tests := []struct {
		name    string
		setting []socket.PacketSetting
		set     int
		want    int64
	}{
		{"the peer's window grows", nil, 0, 16 * window},
		{"WithStreamWindow", []socket.PacketSetting{WithStreamWindow(window)}, 0, window},
		{"SetRecvWindow", nil, 2 * window, 2 * window},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t, nil, &PeerConfig{StreamWindow: window}, func(srv, cli *Peer) { srv.StreamRouter.Reg(new(Windows)) })
			st, rerr := p.cliSess.OpenStream("/windows/flood", 400, tt.setting...)
			if rerr != nil {
				t.Fatal(rerr)
			}
			defer st.Close()
			if tt.set > 0 {
				st.SetRecvWindow(tt.set)
			}
			var b []byte
			for i := 0; ; i++ {
				if err := st.Recv(&b); err == io.EOF {
					break
				} else if err != nil || len(b) != 1000 {
					t.Fatalf("message %d: %d bytes, %v", i, len(b), err)
				}
			}
			s := st.(*stream)
			s.mu.Lock()
			got := s.window
			s.mu.Unlock()
			if got != tt.want {
				t.Fatalf("the receive window ended at %d bytes, want %d", got, tt.want)
			}
		})
	}
}
