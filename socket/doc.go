// Package socket is teleport's wire layer: Packet, the unit of
// communication; Proto, the framing of packets into bytes, with the fast
// protocol of teleport v3 as default; and Socket, a net.Conn that reads and
// writes packets.
//
// The fast protocol's frame layout is in PROTOCOL.md beside this file.
// Every length read from the network is checked against the bytes present
// and PacketSizeLimit before use; framing errors are the sentinels of
// errors.go, wrapped with the values involved.
//
// Writes are coalesced: concurrent WritePacket calls on one socket queue
// behind one lock, and the last of a queue writes every queued frame with
// one system call.
package socket
