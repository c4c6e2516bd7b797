package tp

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// stackProbeCodec is JSON that records, for each type it decodes into,
// whether the frame decoder was on the stack: bodies are meant to be
// decoded after it returns (see bindCall and bindReply), so that the
// reading goroutine's stack does not hold both the frame decoder's frames
// and a body decoder's.
type stackProbeCodec struct{}

const stackProbeCodecId = 0xD7

var stackProbe struct {
	sync.Mutex
	inUnpack map[string][]bool // by decoded type, one per decode in order
}

func (stackProbeCodec) Id() byte                              { return stackProbeCodecId }
func (stackProbeCodec) Name() string                          { return "stack-probe" }
func (stackProbeCodec) Marshal(v interface{}) ([]byte, error) { return json.Marshal(v) }
func (stackProbeCodec) Unmarshal(data []byte, v interface{}) error {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	inUnpack := false
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "socket.(*fastProto).Unpack") {
			inUnpack = true
		}
		if !more {
			break
		}
	}
	name := strings.TrimPrefix(fmt.Sprintf("%T", v), "*tp.")
	stackProbe.Lock()
	stackProbe.inUnpack[name] = append(stackProbe.inUnpack[name], inUnpack)
	stackProbe.Unlock()
	return json.Unmarshal(data, v)
}

// ProbeArg is what Probe.Double doubles; Pad comes back as it is.
type ProbeArg struct {
	N   int
	Pad string
}

// ProbeReply is what Probe.Double answers.
type ProbeReply struct {
	N   int
	Pad string
}

// Probe answers a ProbeArg with a ProbeReply.
type Probe struct{ PullCtx }

func (*Probe) Double(a *ProbeArg) (*ProbeReply, *Rerror) {
	return &ProbeReply{N: 2 * a.N, Pad: a.Pad}, nil
}

var regStackProbe sync.Once

func TestBodiesDecodedOutsideTheFrameDecoder(t *testing.T) {
	regStackProbe.Do(func() { codec.Reg(stackProbeCodec{}) })
	stackProbe.Lock()
	stackProbe.inUnpack = map[string][]bool{}
	stackProbe.Unlock()

	p := newPair(t, nil, nil, func(srv, cli *Peer) { srv.PullRouter.Reg(new(Probe)) })
	var reply ProbeReply
	if rerr := p.cliSess.Pull("/probe/double", &ProbeArg{N: 21}, &reply, socket.WithBodyCodec(stackProbeCodecId)).Rerror(); rerr != nil || reply.N != 42 {
		t.Fatalf("Pull = %+v, %v; want 42, nil", reply, rerr)
	}
	// A reply frame over maxRawReply is decoded in place: a copy of it
	// would cost more than the stack.
	big := ProbeReply{}
	pad := strings.Repeat("x", maxRawReply+1)
	if rerr := p.cliSess.Pull("/probe/double", &ProbeArg{N: 1, Pad: pad}, &big, socket.WithBodyCodec(stackProbeCodecId)).Rerror(); rerr != nil || big.N != 2 || big.Pad != pad {
		t.Fatalf("large Pull = N %d, %d bytes of pad, %v; want 2, %d, nil", big.N, len(big.Pad), rerr, len(pad))
	}
	tests := []struct {
		body     string
		nth      int // which decode of body
		inUnpack bool
		what     string
	}{
		{"ProbeArg", 0, false, "a request's body, on the server"},
		{"ProbeArg", 1, false, "a large request's body, on the server"},
		{"ProbeReply", 0, false, "a reply's body, on the client"},
		{"ProbeReply", 1, true, "a reply's body over maxRawReply, on the client"},
	}
	stackProbe.Lock()
	defer stackProbe.Unlock()
	for _, tt := range tests {
		got := stackProbe.inUnpack[tt.body]
		switch {
		case len(got) <= tt.nth:
			t.Errorf("%s (%s #%d) was not decoded by the probe codec; decoded: %v", tt.what, tt.body, tt.nth, stackProbe.inUnpack)
		case got[tt.nth] != tt.inUnpack:
			t.Errorf("%s (%s #%d): decoded within the frame decoder = %v, want %v", tt.what, tt.body, tt.nth, got[tt.nth], tt.inUnpack)
		}
	}
}
