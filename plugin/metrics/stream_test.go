package metrics

import (
	"io"
	"testing"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/internal/tptest"
)

// TestStreams: streams open, ended by code, and their messages and bytes
// each way, by route and side, on both peers.
func TestStreams(t *testing.T) {
	srvM, srvReg := newRegistered(t, "")
	cliM, cliReg := newRegistered(t, "")
	srv := tp.NewPeer(nil, srvM)
	srv.StreamRouter.Reg(new(tptest.Echo))
	p := newPair(t, srv, tp.NewPeer(nil, cliM))
	st, rerr := p.sess.OpenStream("/echo/back?x=1", nil)
	if rerr != nil {
		t.Fatal(rerr)
	}
	for _, s := range []string{"a", "bb", "ccc"} { // JSON: 3, 4 and 5 bytes
		if err := st.Send(s); err != nil {
			t.Fatal(err)
		}
		if err := st.Recv(new(string)); err != nil {
			t.Fatal(err)
		}
	}
	labels := func(side, extra, v string) map[string]string {
		m := map[string]string{"route": "/echo/back", "side": side}
		if extra != "" {
			m[extra] = v
		}
		return m
	}
	if got := count(t, cliReg, "streams_open", labels("open", "", "")); got != 1 {
		t.Errorf("client streams_open %v, want 1", got)
	}
	st.CloseSend()
	if err := st.Recv(new(string)); err != io.EOF {
		t.Fatal(err)
	}
	st.Close()
	p.close(t)
	for _, tt := range []struct {
		side    string
		sent    float64
		rcvd    float64
		sentLen float64
	}{
		{"open", 3, 3, 12},
		{"accept", 3, 3, 12},
	} {
		reg := cliReg
		if tt.side == "accept" {
			reg = srvReg
		}
		if got := count(t, reg, "streams_open", labels(tt.side, "", "")); got != 0 {
			t.Errorf("%s streams_open = %v after the end, want 0", tt.side, got)
		}
		checks := []struct {
			name, key, val string
			want           float64
		}{
			{"streams_total", "code", "0", 1},
			{"stream_messages_total", "direction", "sent", tt.sent},
			{"stream_messages_total", "direction", "received", tt.rcvd},
			{"stream_bytes_total", "direction", "sent", tt.sentLen},
			{"stream_bytes_total", "direction", "received", tt.sentLen},
		}
		for _, c := range checks {
			if got := count(t, reg, c.name, labels(tt.side, c.key, c.val)); got != c.want {
				t.Errorf("%s %s{%s=%s} = %v, want %v", tt.side, c.name, c.key, c.val, got, c.want)
			}
		}
	}
}
