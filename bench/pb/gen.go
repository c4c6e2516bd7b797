// Package pb holds the benchmark workload: the proto2 BenchmarkMessage of the
// common Go RPC benchmark, its generated code and helpers that build the
// request and the reply every runner exchanges.
package pb

//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative benchmark.proto
