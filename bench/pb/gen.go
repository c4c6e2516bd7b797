// Package pb holds the benchmark workload: the proto2 BenchmarkMessage of the
// common Go RPC benchmark, its generated code and helpers that build the
// request and the reply every runner exchanges.
//
// benchmark.pb.go is protoc-gen-go's output (the message type, descriptor
// and reflection); benchmark_vtproto.pb.go is protoc-gen-go-vtproto's
// (SizeVT, MarshalVT, MarshalToSizedBufferVT, UnmarshalVT): generated fast
// marshalling, as the peers' benchmark code has with gogo. Every runner
// marshals through the vtproto methods: teleport's protobuf codec finds
// them by itself, the other runners call them (see Marshal and Unmarshal).
// The unsafe unmarshaller, whose strings alias its input, is not
// generated.
package pb

// Regenerate with protoc 3.21.12 (Debian's protobuf-compiler),
// protoc-gen-go v1.36.12 and protoc-gen-go-vtproto v0.6.1-0.20240319094008-0393e58bdf10 (the version gRPC v1.75.1 already requires) on PATH:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install github.com/planetscale/vtprotobuf/cmd/protoc-gen-go-vtproto@v0.6.1-0.20240319094008-0393e58bdf10
//	go generate ./pb
//
//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-vtproto_out=. --go-vtproto_opt=paths=source_relative,features=marshal+unmarshal+size benchmark.proto
