// Package runner is the plug-in point of the benchmark: one Runner per RPC
// stack (the raw-TCP ceilings, the minimal RPC, teleport, net/rpc, gRPC), each able to start
// a server for the workload and to open a client to it. The load driver,
// the compare table and the client/server commands only see these
// interfaces, so every stack is measured by the same code.
package runner
