module github.com/teleport-go/teleport

go 1.23

require (
	github.com/golang/protobuf v1.5.4
	github.com/henrylee2cn/goutil v0.0.0-20210127050712-89660552f6f8
	go.uber.org/goleak v1.3.0
	google.golang.org/protobuf v1.33.0
)

require (
	github.com/henrylee2cn/ameda v1.4.8 // indirect
	github.com/pkg/errors v0.9.1 // indirect
)
