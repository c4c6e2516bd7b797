// Package xfer is the registry of transfer filters: byte transformations
// (compression, encryption, checksums) applied to a whole frame payload,
// each known on the wire by a one-byte id.
//
// The gzip filter ('g') is registered by default.
package xfer
