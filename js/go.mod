// This file only fences js/ off the library module, so that
// `go vet ./...` and `go test ./...` never walk into node_modules.
module github.com/teleport-go/teleport/js

go 1.24.0
