// Package brokertls is how the receiver and the processor verify the
// broker's TLS certificate. In AWS the broker's certificates chain to the
// stack's own CA (created by the first node, docs/broker.md), not to public
// roots, so amqps:// connections need that CA: RABBITMQ_CA, a PEM bundle or
// the path of one, installed once with Use. Without it amqps:// verifies
// against the system roots, and amqp:// (local) is unaffected.
package brokertls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

var current atomic.Pointer[tls.Config]

// Config parses ca (PEM certificates, or the path of a PEM file) into a
// client TLS configuration that trusts exactly those certificates.
func Config(ca string) (*tls.Config, error) {
	ca = strings.TrimSpace(ca)
	if ca == "" {
		return nil, errors.New("empty CA")
	}
	pem := []byte(ca)
	if !strings.HasPrefix(ca, "-----BEGIN") {
		b, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pem = b
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificate in the CA")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Use makes ca the roots every later broker connection verifies against
// (see Client); "" keeps the system roots.
func Use(ca string) error {
	if strings.TrimSpace(ca) == "" {
		current.Store(nil)
		return nil
	}
	c, err := Config(ca)
	if err != nil {
		return err
	}
	current.Store(c)
	return nil
}

// Client is the TLS configuration for amqp091's Config.TLSClientConfig: a
// copy of what Use installed, or nil (the library's default: system roots,
// the URL's host as the server name).
func Client() *tls.Config {
	if c := current.Load(); c != nil {
		return c.Clone()
	}
	return nil
}
