package socket_test

import (
	"fmt"
	"net"

	"github.com/teleport-go/teleport/codec"
	"github.com/teleport-go/teleport/socket"
)

// Packet settings fill in a packet in one call; the same settings are
// accepted by Session.Pull and Session.Push in package tp.
func ExamplePacketSetting() {
	p := socket.GetPacket(
		socket.WithSeq(7),
		socket.WithPtype(1),
		socket.WithUri("/home/test_add"),
		socket.WithQuery("trace", "1"),
		socket.WithSetMeta("user", "gopher"),
		socket.WithBodyCodec(codec.IdJSON),
		socket.WithBody([]int{1, 2}),
		socket.WithXferPipe('g'),
	)
	defer socket.PutPacket(p)
	fmt.Println(p.Uri(), string(p.Meta().Peek("user")), p.XferPipe().Names())
	// Output: /home/test_add?trace=1 gopher [gzip]
}

// Two sockets over one connection exchange a packet.
func ExampleNewSocket() {
	c1, c2 := net.Pipe()
	a, b := socket.NewSocket(c1), socket.NewSocket(c2)
	defer a.Close()
	defer b.Close()

	go a.WritePacket(socket.NewPacket(socket.WithSeq(1), socket.WithUri("/hello"), socket.WithBody("world"), socket.WithBodyCodec(codec.IdString)))

	var body string
	p := socket.NewPacket(socket.WithNewBody(func(socket.Header) interface{} { return &body }))
	if err := b.ReadPacket(p); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Uri(), body)
	// Output: /hello world
}
