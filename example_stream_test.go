package tp_test

import (
	"fmt"
	"io"

	tp "github.com/teleport-go/teleport"
)

// Ticker is a stream controller: it embeds tp.StreamCtx, and each exported
// method takes a pointer argument (the open's) and returns a *tp.Rerror.
type Ticker struct {
	tp.StreamCtx
}

// Count sends *n numbers, then ends the stream.
func (t *Ticker) Count(n *int) *tp.Rerror {
	for i := 1; i <= *n; i++ {
		if err := t.Send(i); err != nil {
			return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", err.Error())
		}
	}
	return nil
}

// Total adds the numbers it receives, and sends the sum once the opener
// has finished sending.
func (t *Ticker) Total(*struct{}) *tp.Rerror {
	sum := 0
	for {
		var n int
		if err := t.Recv(&n); err == io.EOF {
			break
		} else if err != nil {
			return tp.NewRerror(tp.CodeBadPacket, "Bad Packet", err.Error())
		}
		sum += n
	}
	if err := t.Send(sum); err != nil {
		return tp.NewRerror(tp.CodeWriteFailed, "Write Failed", err.Error())
	}
	return nil
}

func ExampleSession_OpenStream() {
	srv := tp.NewPeer(nil)
	srv.StreamRouter.Reg(new(Ticker))
	sess, stop := serve(srv)
	defer stop()

	// The server sends, the opener reads to the end.
	st, rerr := sess.OpenStream("/ticker/count", 3)
	if rerr != nil {
		fmt.Println(rerr)
		return
	}
	for {
		var n int
		if err := st.Recv(&n); err != nil {
			fmt.Println("end:", err)
			break
		}
		fmt.Println("got", n)
	}
	st.Close()

	// The opener sends and half-closes, the server answers once.
	st, rerr = sess.OpenStream("/ticker/total", nil)
	if rerr != nil {
		fmt.Println(rerr)
		return
	}
	defer st.Close()
	for _, n := range []int{10, 20, 30} {
		st.Send(n)
	}
	st.CloseSend()
	var sum int
	if err := st.Recv(&sum); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sum", sum)
	// Output:
	// got 1
	// got 2
	// got 3
	// end: EOF
	// sum 60
}
