package main

import (
	"errors"
	"io"
	"net"
	"runtime"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
)

// Sink is the stream controller of the teleport runner.
type Sink struct{ tp.StreamCtx }

// sinkRecv is what the sink hands each message to, and sinkDone learns
// the end of its stream; set per run (one stream at a time).
var (
	sinkRecv func([]byte)
	sinkDone chan error
)

// sinkWindow is the receive window of Drain (0: the default, which
// grows to sinkWindowMax: tp.PeerConfig.StreamWindowMax).
var sinkWindow, sinkWindowMax int

// Drain reads every message until the opener's end.
func (s *Sink) Drain(*struct{}) *tp.Rerror {
	if sinkWindow > 0 {
		s.SetRecvWindow(sinkWindow)
	}
	var b []byte // Recv reuses its capacity
	for {
		if err := s.Recv(&b); err == io.EOF {
			sinkDone <- nil
			return nil
		} else if err != nil {
			sinkDone <- err
			return nil
		}
		sinkRecv(b)
	}
}

// stall is released when the memory workload is over.
var stall = make(chan struct{})

// Stall accepts the stream and reads nothing until released.
func (s *Sink) Stall(*struct{}) *tp.Rerror {
	s.SendHeader()
	select {
	case <-stall:
	case <-s.Context().Done():
	}
	return nil
}

func teleportPair() (cli tp.Session, stop func(), err error) {
	srv := tp.NewPeer(&tp.PeerConfig{MaxSessionStreams: -1, StreamWindowMax: sinkWindowMax})
	srv.StreamRouter.Reg(new(Sink))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go srv.Serve(lis)
	peer := tp.NewPeer(nil)
	sess, rerr := peer.Dial(lis.Addr().String())
	if rerr != nil {
		srv.Close()
		return nil, nil, rerr.ToError()
	}
	return sess, func() { peer.Close(); srv.Close() }, nil
}

func openTeleport(recv func([]byte)) (func([]byte) error, func() error, func(), error) {
	sess, stop, err := teleportPair()
	if err != nil {
		return nil, nil, nil, err
	}
	sinkRecv, sinkDone = recv, make(chan error, 1)
	st, rerr := sess.OpenStream("/sink/drain", nil)
	if rerr != nil {
		stop()
		return nil, nil, nil, rerr.ToError()
	}
	closeSend := func() error {
		if err := st.CloseSend(); err != nil {
			return err
		}
		return <-sinkDone
	}
	send := func(b []byte) error { return st.Send(b) }
	return send, closeSend, func() { st.Close(); stop() }, nil
}

type memoryResult struct {
	window, msg     int
	msgsPerStream   float64
	heapPer, rssPer float64
}

// measureMemory opens streams streams to Stall and sends 16 KiB messages
// on each until Send blocks, then measures.
func measureMemory(streams int) (memoryResult, error) {
	res := memoryResult{window: tp.DefaultStreamWindow, msg: 16 << 10}
	sess, stop, err := teleportPair()
	if err != nil {
		return res, err
	}
	defer stop()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rss0, err := rss()
	if err != nil {
		return res, err
	}
	msg := make([]byte, res.msg)
	sent := make(chan int, streams)
	var opened []tp.Stream
	for range streams {
		st, rerr := sess.OpenStream("/sink/stall", nil, socket.WithBodyCodec('s'))
		if rerr != nil {
			return res, rerr.ToError()
		}
		opened = append(opened, st)
		go func() {
			n := 0
			for st.Send(msg) == nil {
				n++
			}
			sent <- n
		}()
	}
	// Every sender is blocked once the sent counts stop moving: wait
	// until the receivers hold what the windows allow.
	want := int64(streams) * int64(res.window/(res.msg+32))
	deadline := time.Now().Add(30 * time.Second)
	for {
		var total int64
		for _, st := range opened {
			total += st.(tp.StreamInfo).Stats().MsgsSent
		}
		if total >= want {
			res.msgsPerStream = float64(total) / float64(streams)
			break
		}
		if time.Now().After(deadline) {
			return res, errors.New("the senders did not fill their windows within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	rss1, err := rss()
	if err != nil {
		return res, err
	}
	res.heapPer = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(streams)
	res.rssPer = float64(int64(rss1)-int64(rss0)) / float64(streams)
	for _, st := range opened {
		st.Close()
	}
	for range streams {
		<-sent
	}
	close(stall)
	return res, nil
}
