package testenv

import (
	"context"
	"io"
	"strings"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Proxy is a TCP proxy in front of one real service, owned by one test.
type Proxy struct {
	t testing.TB
	p *toxiproxy.Proxy
}

// NewProxy starts a proxy on a free loopback port forwarding to upstream
// (host:port); it is stopped at cleanup.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, Name(t), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("start proxy to %s: %v", upstream, err)
	}
	t.Cleanup(p.Stop)
	return &Proxy{t: t, p: p}
}

// Addr is the proxy's listening host:port.
func (p *Proxy) Addr() string { return p.p.Listen }

// Cut closes every connection through the proxy and refuses new ones, as if
// the service went away.
func (p *Proxy) Cut() { p.p.Stop() }

// Restore accepts connections again on the same address.
func (p *Proxy) Restore() {
	p.t.Helper()
	if err := p.p.Start(); err != nil {
		p.t.Fatalf("restore proxy: %v", err)
	}
}

// Blackhole keeps connections open but stops delivering the service's replies
// (a hung broker or database); Heal removes it.
func (p *Proxy) Blackhole() {
	p.t.Helper()
	p.addToxic(`{"name":"blackhole","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)
}

// Heal removes a Blackhole.
func (p *Proxy) Heal() {
	p.t.Helper()
	if err := p.p.Toxics.RemoveToxic(context.Background(), "blackhole"); err != nil {
		p.t.Fatalf("remove toxic: %v", err)
	}
}

func (p *Proxy) addToxic(js string) {
	p.t.Helper()
	if _, err := p.p.Toxics.AddToxicJson(io.NopCloser(strings.NewReader(js))); err != nil {
		p.t.Fatalf("add toxic: %v", err)
	}
}
