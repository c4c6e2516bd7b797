// Package codec is the registry of body codecs: the encodings a packet body
// may travel in, each known on the wire by a one-byte id.
//
// JSON ('j'), Protobuf ('p') and String ('s') are registered by default.
// Register your own with Reg at init time, under an id and a name that both
// ends of a connection agree on.
package codec
