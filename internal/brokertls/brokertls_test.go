package brokertls_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

// testCA is a CA and a server certificate it issued for names.
type testCA struct {
	certPEM []byte
	server  tls.Certificate
}

func newCA(t *testing.T, ips ...net.IP) testCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hookline test broker CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "hookline-test-rabbitmq-0"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: ips, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return testCA{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		server:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
	}
}

// tlsListener terminates TLS with the CA's server certificate in front of
// the real local broker (the shared broker stays plaintext), as a node's
// 5671 listener does.
func tlsListener(t *testing.T, ca testCA) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.server}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				up, err := net.Dial("tcp", testenv.RabbitMQAddr())
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(c, up); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(addr, vhost string) error {
	// As the receiver's production user: TLS in front of the grants the
	// client really has.
	u := "amqps" + strings.TrimPrefix(testenv.AMQPURLAs(addr, vhost, topology.Receiver), "amqp")
	conn, err := amqp.DialConfig(u, amqp.Config{TLSClientConfig: brokertls.Client(), Dial: amqp.DefaultDial(5 * time.Second)})
	if err != nil {
		return err
	}
	return conn.Close()
}

// amqps:// against a TLS listener whose certificate chains to a test CA:
// with RABBITMQ_CA set to that CA (PEM or file) the connection opens and
// verifies; with another CA, or the system roots, it is refused.
func TestAMQPSVerifiesTheBrokerCA(t *testing.T) {
	vhost := testenv.RabbitMQ(t)
	good := newCA(t, net.ParseIP("127.0.0.1"))
	addr := tlsListener(t, good)
	t.Cleanup(func() { brokertls.Use("") })

	if err := brokertls.Use(""); err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(addr, vhost); !errors.As(err, &unknown) {
		t.Errorf("system roots: %v; want an unknown-authority refusal", err)
	}
	if err := brokertls.Use(string(newCA(t).certPEM)); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, vhost); !errors.As(err, &unknown) {
		t.Errorf("another CA: %v; want an unknown-authority refusal", err)
	}
	if err := brokertls.Use(string(good.certPEM)); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, vhost); err != nil {
		t.Errorf("the broker's CA as PEM: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, good.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := brokertls.Use(path); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, vhost); err != nil {
		t.Errorf("the broker's CA as a file: %v", err)
	}
	// The certificate names 127.0.0.1; reaching it as localhost must fail.
	if err := dial(strings.Replace(addr, "127.0.0.1", "localhost", 1), vhost); err == nil {
		t.Error("a certificate for another name was accepted")
	}
}

func TestConfigRefusesWhatIsNotACA(t *testing.T) {
	for _, ca := range []string{"   ", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := brokertls.Config(ca); err == nil {
			t.Errorf("Config(%q) accepted", ca)
		}
	}
}
