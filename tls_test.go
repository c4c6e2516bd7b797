package tp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testCert is a self-signed certificate for 127.0.0.1, ::1 and localhost,
// as PEM files and as a server and a client TLS configuration.
type testCert struct {
	certFile, keyFile string
	// server presents the certificate.
	server *tls.Config
	// client trusts the certificate and nothing else.
	client *tls.Config
	// pair and pool are the certificate with its key, and a pool of it.
	pair tls.Certificate
	pool *x509.CertPool
}

// newTestCert generates an ECDSA P-256 certificate valid for an hour and
// writes it and its key to PEM files in a temporary directory.
func newTestCert(t testing.TB) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "teleport test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	dir := t.TempDir()
	tc := &testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem")}
	if err := os.WriteFile(tc.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tc.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	tc.server = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	// The IP SAN matches ServerName "127.0.0.1"; a unix socket has no host
	// name to derive it from, so it is always set.
	tc.client = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	tc.pair, tc.pool = pair, pool
	return tc
}

// listenPeer runs srv.Listen on its ListenAddrs until the test ends, and
// returns the first address served once every one is.
func listenPeer(t testing.TB, srv *Peer) string {
	t.Helper()
	listened := make(chan error, 1)
	go func() { listened <- srv.Listen() }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-listened; err != nil {
			t.Errorf("Listen returned %v after Close", err)
		}
	})
	waitFor(t, "the listeners", func() bool { return len(srv.Addrs()) == len(srv.cfg.ListenAddrs) })
	return srv.Addrs()[0].String()
}

// serverSession waits for srv to have exactly one session and returns it.
func serverSession(t testing.TB, srv *Peer) Session {
	t.Helper()
	waitFor(t, "the server session", func() bool { return srv.CountSession() == 1 })
	var s Session
	srv.RangeSession(func(sess Session) bool { s = sess; return false })
	return s
}

// TLS from the cert files or from SetTLSConfig, over TCP, a unix socket and
// a unixpacket socket: pulls and pushes work both ways, and the client did
// shake hands.
func TestTLSPullBothWays(t *testing.T) {
	tc := newTestCert(t)
	tests := []struct {
		name      string
		network   string
		fromFiles bool // server TLS from TlsCertFile/TlsKeyFile, else SetTLSConfig
	}{
		{"files over tcp", "tcp", true},
		{"files over unix", "unix", true},
		{"SetTLSConfig over tcp", "tcp", false},
		{"SetTLSConfig over unix", "unix", false},
		{"files over unixpacket", "unixpacket", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if strings.HasPrefix(tt.network, "unix") {
				addr = filepath.Join(t.TempDir(), "tls.sock")
			}
			srvCfg := &PeerConfig{Network: tt.network, ListenAddrs: []string{addr}}
			if tt.fromFiles {
				srvCfg.TlsCertFile, srvCfg.TlsKeyFile = tc.certFile, tc.keyFile
			}
			srv := NewPeer(srvCfg)
			if !tt.fromFiles {
				if srv.TLSConfig() != nil {
					t.Fatal("a peer without cert files has a TLS config")
				}
				srv.SetTLSConfig(tc.server)
			}
			if srv.TLSConfig() == nil {
				t.Fatal("the server has no TLS config")
			}
			cli := NewPeer(&PeerConfig{Network: tt.network, DefaultDialTimeout: 2 * time.Second})
			regHome(srv, cli)
			var handshakes atomic.Int32
			cliTLS := tc.client.Clone()
			cliTLS.VerifyConnection = func(cs tls.ConnectionState) error {
				handshakes.Add(1)
				return nil
			}
			cli.SetTLSConfig(cliTLS)
			defer cli.Close()
			served := listenPeer(t, srv)

			// The context bounds the handshake too (see
			// TestTLSDialTimeoutBoundsHandshake).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			cliSess, rerr := cli.DialContext(ctx, served)
			if rerr != nil {
				t.Fatalf("Dial: %v", rerr)
			}
			if handshakes.Load() != 1 {
				t.Fatalf("%d TLS handshakes verified, want 1", handshakes.Load())
			}
			srvSess := serverSession(t, srv)
			for _, dir := range []struct {
				name string
				sess Session
			}{{"client to server", cliSess}, {"server to client", srvSess}} {
				var sum int
				if rerr := dir.sess.Pull("/home/test_add", [2]int{20, 22}, &sum).Rerror(); rerr != nil || sum != 42 {
					t.Fatalf("%s: pull = %d, %v; want 42", dir.name, sum, rerr)
				}
				if rerr := dir.sess.Push("/note/say", dir.name); rerr != nil {
					t.Fatalf("%s: push: %v", dir.name, rerr)
				}
				select {
				case got := <-notes:
					if got != "/note/say "+dir.name {
						t.Fatalf("%s: push delivered %q", dir.name, got)
					}
				case <-time.After(2 * time.Second):
					t.Fatalf("%s: push not delivered", dir.name)
				}
			}
		})
	}
}

// A plain-text client of a TLS server connects (TCP does not know), but
// its first pull fails promptly: the server takes the frame for a bad
// TLS record and closes the connection.
func TestTLSServerRefusesPlainClient(t *testing.T) {
	tc := newTestCert(t)
	log := captureLog(t, "NOTICE")
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}, TlsCertFile: tc.certFile, TlsKeyFile: tc.keyFile})
	cli := NewPeer(&PeerConfig{DefaultDialTimeout: 2 * time.Second})
	regHome(srv, cli)
	defer cli.Close()
	addr := listenPeer(t, srv)

	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatalf("Dial: %v (a plain TCP dial should connect)", rerr)
	}
	start := time.Now()
	done := make(chan *PullCmd, 1)
	var sum int
	sess.AsyncPull("/home/test_add", [2]int{1, 2}, &sum, done)
	select {
	case cmd := <-done:
		rerr = cmd.Rerror()
	case <-time.After(2 * time.Second):
		t.Fatal("a plain-text pull to a TLS server hangs")
	}
	if rerr == nil || (rerr.Code != CodeConnClosed && rerr.Code != CodeWriteFailed) {
		t.Fatalf("pull = %d, %v; want CodeConnClosed or CodeWriteFailed", sum, rerr)
	}
	if cost := time.Since(start); cost >= 2*time.Second {
		t.Fatalf("the pull took %v to fail", cost)
	}
	waitFor(t, "the client session to close", func() bool { return !sess.IsOk() })
	waitFor(t, "the server to drop the session", func() bool { return srv.CountSession() == 0 })
	waitFor(t, "the server to log why", func() bool {
		return strings.Contains(log.String(), "does not look like a TLS handshake")
	})
}

// A TLS client of a plain server fails to dial promptly: the server takes
// the client hello for a frame of another protocol and closes the
// connection, which ends the handshake.
func TestTLSClientOfPlainServer(t *testing.T) {
	tc := newTestCert(t)
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}})
	srv.PullRouter.Reg(new(Home))
	addr := listenPeer(t, srv)
	cli := NewPeer(&PeerConfig{DefaultDialTimeout: 5 * time.Second})
	defer cli.Close()
	cli.SetTLSConfig(tc.client)

	start := time.Now()
	sess, rerr := cli.Dial(addr)
	if cost := time.Since(start); cost >= 2*time.Second {
		t.Fatalf("Dial took %v to fail", cost)
	}
	if rerr == nil || rerr.Code != CodeDialFailed || !strings.Contains(rerr.Detail, "tls handshake") {
		t.Fatalf("Dial = %v, %v; want CodeDialFailed naming the tls handshake", sess, rerr)
	}
	if cli.CountSession() != 0 {
		t.Fatalf("the client kept %d sessions", cli.CountSession())
	}
	waitFor(t, "the server to drop the session", func() bool { return srv.CountSession() == 0 })
}

// A client that does not trust the server's certificate fails to dial,
// and says why.
func TestTLSUntrustedCertificate(t *testing.T) {
	tc := newTestCert(t)
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}, TlsCertFile: tc.certFile, TlsKeyFile: tc.keyFile})
	srv.PullRouter.Reg(new(Home))
	addr := listenPeer(t, srv)
	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"no RootCAs", &tls.Config{ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}},
		{"wrong name", func() *tls.Config {
			c := tc.client.Clone()
			c.ServerName = "example.com"
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli := NewPeer(&PeerConfig{DefaultDialTimeout: 2 * time.Second})
			defer cli.Close()
			cli.SetTLSConfig(tt.cfg)
			sess, rerr := cli.Dial(addr)
			if rerr == nil || rerr.Code != CodeDialFailed || !strings.Contains(rerr.Detail, "certificate") {
				t.Fatalf("Dial = %v, %v; want CodeDialFailed about the certificate", sess, rerr)
			}
			waitFor(t, "the server to drop the session", func() bool { return srv.CountSession() == 0 })
		})
	}
}

// A client configuration without ServerName is enough for crypto/tls.Dial,
// which takes the name from the address; Peer.Dial should do the same, or
// a peer given only TlsCertFile/TlsKeyFile could never dial.
func TestTLSDialDerivesServerName(t *testing.T) {
	tc := newTestCert(t)
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}, TlsCertFile: tc.certFile, TlsKeyFile: tc.keyFile})
	srv.PullRouter.Reg(new(Home))
	addr := listenPeer(t, srv)
	cfg := tc.client.Clone()
	cfg.ServerName = ""

	// The configuration is enough for the standard library.
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatalf("tls.Dial with the same configuration: %v", err)
	}
	conn.Close()

	cli := NewPeer(&PeerConfig{DefaultDialTimeout: 2 * time.Second})
	defer cli.Close()
	cli.SetTLSConfig(cfg)
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatalf("Dial with a tls.Config without ServerName: %v", rerr)
	}
	var sum int
	if rerr := sess.Pull("/home/test_add", [2]int{1, 2}, &sum).Rerror(); rerr != nil || sum != 3 {
		t.Fatalf("pull = %d, %v; want 3", sum, rerr)
	}
}

// DefaultDialTimeout bounds the whole of Dial, the TLS handshake included:
// a server that accepts and never answers the client hello must not hang
// the dialer.
func TestTLSDialTimeoutBoundsHandshake(t *testing.T) {
	tc := newTestCert(t)
	lis := listenLoopback(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		conn, err := lis.Accept()
		if err == nil {
			accepted <- conn // held open, never answered
		}
		close(accepted)
	}()
	cli := NewPeer(&PeerConfig{DefaultDialTimeout: 200 * time.Millisecond})
	cli.SetTLSConfig(tc.client)
	dialed := make(chan *Rerror, 1)
	start := time.Now()
	go func() {
		_, rerr := cli.Dial(lis.Addr().String())
		dialed <- rerr
	}()
	defer func() {
		// Unblock a hung handshake so that nothing leaks.
		lis.Close()
		for conn := range accepted {
			conn.Close()
		}
		<-dialed
		cli.Close()
	}()
	select {
	case rerr := <-dialed:
		dialed <- rerr // for the deferred receive
		if rerr == nil || rerr.Code != CodeDialFailed {
			t.Fatalf("Dial = %v; want CodeDialFailed", rerr)
		}
		if cost := time.Since(start); cost > time.Second {
			t.Fatalf("Dial took %v with DefaultDialTimeout 200ms", cost)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Dial with DefaultDialTimeout 200ms still in the TLS handshake after 2s")
	}
}

// Connections to a TLS server that never send a ClientHello are closed at
// HandshakeTimeout, with no read timeout set, and never become sessions.
func TestTLSHandshakeTimeout(t *testing.T) {
	tc := newTestCert(t)
	tests := []struct {
		name    string
		timeout time.Duration
		within  time.Duration
	}{
		{"a fifth of a second", 200 * time.Millisecond, 2 * time.Second},
		{"a tenth of a second", 100 * time.Millisecond, 2 * time.Second},
	}
	unset := NewPeer(nil)
	defer unset.Close()
	if d := unset.cfg.HandshakeTimeout; d != DefaultHandshakeTimeout {
		t.Fatalf("a zero HandshakeTimeout is %v, want the default %v", d, DefaultHandshakeTimeout)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}, HandshakeTimeout: tt.timeout})
			srv.SetTLSConfig(tc.server)
			addr := listenPeer(t, srv)
			conns := make([]net.Conn, 20)
			for i := range conns {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conns[i] = c
			}
			start := time.Now()
			for i, c := range conns {
				_ = c.SetReadDeadline(start.Add(tt.within))
				if n, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("connection %d: read %d bytes, %v: still open after %v", i, n, err, time.Since(start))
				}
			}
			// crypto/tls closes the connection itself at the timeout,
			// a moment before the server counts it out.
			waitFor(t, "no connection in its handshake", func() bool { return srv.handshakes.Load() == 0 })
			if n := srv.CountSession(); n != 0 {
				t.Fatalf("%d sessions; want none", n)
			}
		})
	}
}

// idFromCert is a PostAccept plugin that admits a session only with a
// verified client certificate, naming the session after it.
type idFromCert struct{}

func (idFromCert) Name() string { return "id-from-cert" }
func (idFromCert) PostAccept(sess PreSession) *Rerror {
	cs, ok := TLSConnectionState(sess)
	if !ok || len(cs.VerifiedChains) == 0 {
		return NewRerror(401, "Unauthorized", "no client certificate")
	}
	sess.SetId("cn:" + cs.VerifiedChains[0][0].Subject.CommonName)
	return nil
}

// Client certificates identify the client: the PostAccept plugin sees the
// verified chain and names the session; handlers and the client see the
// TLS state too; a plain connection reports none.
func TestTLSConnectionStateForClientCertificates(t *testing.T) {
	tc := newTestCert(t)
	srv := NewPeer(&PeerConfig{ListenAddrs: []string{"127.0.0.1:0"}}, idFromCert{})
	srv.PullRouter.Reg(new(Home))
	srvTLS := tc.server.Clone()
	srvTLS.ClientAuth = tls.RequireAndVerifyClientCert
	srvTLS.ClientCAs = tc.pool
	srv.SetTLSConfig(srvTLS)
	addr := listenPeer(t, srv)

	cli := NewPeer(&PeerConfig{DefaultDialTimeout: 2 * time.Second})
	defer cli.Close()
	cliTLS := tc.client.Clone()
	cliTLS.Certificates = []tls.Certificate{tc.pair}
	cli.SetTLSConfig(cliTLS)
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if rerr := sess.Pull("/home/test_add", [2]int{1, 2}, new(int)).Rerror(); rerr != nil {
		t.Fatal(rerr)
	}
	srvSess := serverSession(t, srv)
	if id := srvSess.Id(); id != "cn:teleport test" {
		t.Fatalf("the server named the session %q, want it named after the certificate", id)
	}
	if cs, ok := TLSConnectionState(srvSess); !ok || len(cs.PeerCertificates) != 1 {
		t.Fatalf("the server session's TLS state: %v, %d peer certificates", ok, len(cs.PeerCertificates))
	}
	if cs, ok := TLSConnectionState(sess); !ok || !cs.HandshakeComplete {
		t.Fatalf("the client session's TLS state: %v", ok)
	}

	// Without a certificate the handshake itself fails.
	bare := NewPeer(&PeerConfig{DefaultDialTimeout: 2 * time.Second})
	defer bare.Close()
	bare.SetTLSConfig(tc.client)
	if s, rerr := bare.Dial(addr); rerr == nil {
		if pullErr := s.Pull("/home/test_add", [2]int{1, 2}, new(int)).Rerror(); pullErr == nil {
			t.Fatal("a client without a certificate was served")
		}
	}

	p := newPair(t, nil, nil, nil)
	if _, ok := TLSConnectionState(p.cliSess); ok {
		t.Fatal("a plain session reports a TLS state")
	}
}
