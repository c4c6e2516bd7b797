package embedded

import (
	"context"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The server is ready in under a second and stores what a client puts,
// on loopback (Start) and on every address (StartAt "0.0.0.0").
func TestStart(t *testing.T) {
	tests := []struct {
		name  string
		start func(dir string) (*Server, error)
	}{
		{"Start", Start},
		{"StartAt 0.0.0.0", func(dir string) (*Server, error) { return StartAt(dir, "0.0.0.0") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			s, err := tt.start(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t.Logf("ready in %v at %s", time.Since(start), s.Endpoint())
			_, port, err := net.SplitHostPort(s.Endpoint())
			if err != nil {
				t.Fatal(err)
			}
			endpoint := net.JoinHostPort("127.0.0.1", port)
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := cli.Put(ctx, "/k", "v"); err != nil {
				t.Fatal(err)
			}
			resp, err := cli.Get(ctx, "/k")
			if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
				t.Fatalf("get: %v %v", resp, err)
			}
		})
	}
}
