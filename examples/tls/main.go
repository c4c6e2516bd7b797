// Command tls runs a server and a client that talk over TLS. It makes a
// self-signed certificate for 127.0.0.1 and writes it to a temporary
// directory; the server loads it through PeerConfig.TlsCertFile and
// TlsKeyFile, and the client trusts it through SetTLSConfig. The client
// pulls and pushes; then a plain-text client tries the same server and is
// refused. It prints what happens, removes the certificate and exits.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	tp "github.com/teleport-go/teleport"
)

// Math is the server's pull controller: Math.Add -> /math/add.
type Math struct {
	tp.PullCtx
}

// Add returns the sum of the numbers it is given.
func (m *Math) Add(nums *[]int) (int, *tp.Rerror) {
	sum := 0
	for _, n := range *nums {
		sum += n
	}
	return sum, nil
}

// Chat is the server's push controller: Chat.Say -> /chat/say.
type Chat struct {
	tp.PushCtx
}

// received hands the pushes the server got to run.
var received = make(chan string, 1)

// Say records a push.
func (c *Chat) Say(msg *string) {
	received <- fmt.Sprintf("push %s: %q", c.Uri(), *msg)
}

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tls:", err)
		os.Exit(1)
	}
}

// run starts a TLS server and its clients, prints to out what they
// exchange, and closes everything it made.
func run(out io.Writer) error {
	dir, err := os.MkdirTemp("", "teleport-tls-example")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	certFile, keyFile, roots, err := writeSelfSignedCert(dir)
	if err != nil {
		return err
	}

	// The server: TLS from the certificate files.
	srv := tp.NewPeer(&tp.PeerConfig{TlsCertFile: certFile, TlsKeyFile: keyFile})
	defer srv.Close()
	srv.PullRouter.Reg(new(Math))
	srv.PushRouter.Reg(new(Chat))
	// Serve wraps our listener in TLS because the peer has a TLS config.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	addr := lis.Addr().String()
	fmt.Fprintln(out, "server listening with TLS on", addr)

	// The client: TLS from a configuration that trusts our certificate
	// and checks that it names the server, 127.0.0.1.
	cli := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 5 * time.Second})
	defer cli.Close()
	cli.SetTLSConfig(&tls.Config{
		RootCAs:    roots,
		ServerName: "127.0.0.1",
		MinVersion: tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			fmt.Fprintf(out, "client verified %q over %s\n", cs.PeerCertificates[0].Subject.CommonName, tls.VersionName(cs.Version))
			return nil
		},
	})
	sess, rerr := cli.Dial(addr)
	if rerr != nil {
		return rerr.ToError()
	}
	var sum int
	if rerr := sess.Pull("/math/add", []int{1, 2, 3}, &sum).Rerror(); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "client pulled /math/add [1 2 3] ->", sum)
	if rerr := sess.Push("/chat/say", "hello over TLS"); rerr != nil {
		return rerr.ToError()
	}
	fmt.Fprintln(out, "server got", <-received)

	// A plain-text client connects (TCP does not know better), but the
	// server takes its first frame for a broken TLS record and hangs up.
	plain := tp.NewPeer(&tp.PeerConfig{DefaultDialTimeout: 5 * time.Second})
	defer plain.Close()
	psess, rerr := plain.Dial(addr)
	if rerr != nil {
		return rerr.ToError()
	}
	rerr = psess.Pull("/math/add", []int{1, 2, 3}, &sum).Rerror()
	if rerr == nil {
		return errors.New("a plain-text pull to the TLS server succeeded")
	}
	fmt.Fprintln(out, "plain-text client refused: pull ->", rerr.Code, rerr.Message)

	plain.Close()
	cli.Close()
	srv.Close()
	return <-served
}

// writeSelfSignedCert makes an ECDSA certificate for 127.0.0.1, ::1 and
// localhost, writes it and its key as PEM files in dir, and returns their
// paths and a pool that trusts the certificate.
func writeSelfSignedCert(dir string) (certFile, keyFile string, roots *x509.CertPool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "teleport example"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", nil, err
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", "", nil, err
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots, nil
}
