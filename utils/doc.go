// Package utils holds the small value types shared by every layer of
// teleport: Args, the ordered metadata of a packet, and ByteBuffer, the
// pooled growable buffer frames are built in.
//
// Both are designed for reuse: a released value keeps its memory, so a
// connection in steady state encodes and decodes metadata without
// allocating.
package utils
