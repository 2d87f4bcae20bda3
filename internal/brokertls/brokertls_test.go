package brokertls_test

import (
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
)

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
	good := testenv.NewCA(t, net.ParseIP("127.0.0.1"))
	addr := testenv.TLSFront(t, good, testenv.RabbitMQAddr())
	t.Cleanup(func() {
		if err := brokertls.Use(""); err != nil {
			t.Error(err)
		}
	})

	if err := brokertls.Use(""); err != nil {
		t.Fatal(err)
	}
	var unknown x509.UnknownAuthorityError
	if err := dial(addr, vhost); !errors.As(err, &unknown) {
		t.Errorf("system roots: %v; want an unknown-authority refusal", err)
	}
	if err := brokertls.Use(string(testenv.NewCA(t).CertPEM)); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, vhost); !errors.As(err, &unknown) {
		t.Errorf("another CA: %v; want an unknown-authority refusal", err)
	}
	if err := brokertls.Use(string(good.CertPEM)); err != nil {
		t.Fatal(err)
	}
	if err := dial(addr, vhost); err != nil {
		t.Errorf("the broker's CA as PEM: %v", err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, good.CertPEM, 0o600); err != nil {
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
