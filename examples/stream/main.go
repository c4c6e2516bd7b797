// Command stream shows streams from both sides of a session. The client
// uploads a file to the server over a stream it opens, reading the
// server's progress reports as it goes; then the server opens a stream to
// the client and feeds it 200 prices, which the client's handler reads
// slowly: flow control holds the server's sends back to the client's
// small window instead of queueing them all.
package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	tp "github.com/teleport-go/teleport"
	"github.com/teleport-go/teleport/socket"
)

// Progress is the server's report after each chunk of an upload.
type Progress struct {
	Received int
}

// Files is the server's stream controller: Files.Upload -> /files/upload.
type Files struct {
	tp.StreamCtx
}

// Upload receives a file in chunks of bytes, answering each with the
// bytes received so far; once the client has sent everything, it sends
// the file's SHA-256 and returns.
func (f *Files) Upload(name *string) *tp.Rerror {
	h := sha256.New()
	total := 0
	for {
		var chunk []byte
		if err := f.Recv(&chunk); err == io.EOF {
			break
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "upload", err.Error())
		}
		h.Write(chunk)
		total += len(chunk)
		if err := f.Send(Progress{Received: total}); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "upload", err.Error())
		}
	}
	if err := f.Send(Progress{Received: -1}); err != nil { // the last report
		return tp.NewRerror(tp.CodeWriteFailed, "upload", err.Error())
	}
	if err := f.Send(fmt.Sprintf("%s: %d bytes, sha256 %x", *name, total, h.Sum(nil))); err != nil {
		return tp.NewRerror(tp.CodeWriteFailed, "upload", err.Error())
	}
	return nil
}

// Feed is the client's stream controller: Feed.Prices -> /feed/prices.
type Feed struct {
	tp.StreamCtx
}

// feedDone receives what the client's Prices handler read.
var feedDone = make(chan int, 1)

// Prices reads the server's prices slowly, one per millisecond, with a
// window of 1 KiB: the server may be at most that far ahead.
func (f *Feed) Prices(*struct{}) *tp.Rerror {
	f.SetRecvWindow(1 << 10)
	n := 0
	for {
		var price float64
		if err := f.Recv(&price); err == io.EOF {
			break
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "prices", err.Error())
		}
		n++
		time.Sleep(time.Millisecond) // a slow consumer
	}
	feedDone <- n
	return nil
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stream:", err)
		os.Exit(1)
	}
}

func run(out io.Writer) error {
	srv := tp.NewPeer(nil)
	defer srv.Close()
	srv.StreamRouter.Reg(new(Files))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go srv.Serve(lis)

	cli := tp.NewPeer(nil)
	defer cli.Close()
	cli.StreamRouter.Reg(new(Feed))
	sess, rerr := cli.Dial(lis.Addr().String())
	if rerr != nil {
		return rerr.ToError()
	}

	// The client uploads 1 MiB in 64 KiB chunks.
	up, rerr := sess.OpenStream("/files/upload", "data.bin")
	if rerr != nil {
		return rerr.ToError()
	}
	file := make([]byte, 1<<20)
	for i := range file {
		file[i] = byte(i)
	}
	go func() {
		for off := 0; off < len(file); off += 64 << 10 {
			if err := up.Send(file[off : off+64<<10]); err != nil {
				return
			}
		}
		up.CloseSend()
	}()
	reports := 0
	for {
		var p Progress
		if err := up.Recv(&p); err != nil {
			return fmt.Errorf("upload: %v", err)
		}
		if p.Received < 0 {
			break
		}
		reports++
	}
	var sum string
	if err := up.Recv(&sum); err != nil {
		return fmt.Errorf("upload: %v", err)
	}
	if err := up.Recv(new(string)); err != io.EOF {
		return fmt.Errorf("upload ended with %v, want io.EOF", err)
	}
	fmt.Fprintf(out, "uploaded with %d progress reports; server says %s\n", reports, sum)

	// The server opens a feed to the client, bounded by a context.
	var srvSess tp.Session
	srv.RangeSession(func(s tp.Session) bool { srvSess = s; return false })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	feed, rerr := srvSess.OpenStream("/feed/prices", nil, socket.WithContext(ctx))
	if rerr != nil {
		return rerr.ToError()
	}
	for i := range 200 {
		if err := feed.Send(100 + float64(i)/100); err != nil {
			return fmt.Errorf("feed: %v", err)
		}
	}
	feed.CloseSend()
	fmt.Fprintf(out, "the client's slow handler read %d prices\n", <-feedDone)
	return nil
}
