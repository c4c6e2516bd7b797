package loopback

import (
	"io"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTCPPairCarriesBytes: what one end writes the other reads.
func TestTCPPairCarriesBytes(t *testing.T) {
	d, a := TCPPair(t)
	if _, err := d.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(a, got); err != nil || string(got) != "ping" {
		t.Fatalf("read %q, %v", got, err)
	}
}
