package publish_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/testenv"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/lambda/publish"
)

// TestPublishOverTLS: production speaks amqps, where amqp091 layers TLS on
// the socket the publisher groups writes on. 16 concurrent publishes of
// bodies that span several TLS records and AMQP frames are all confirmed
// and all in the queue, byte for byte.
func TestPublishOverTLS(t *testing.T) {
	t.Parallel()
	vhost := testenv.RabbitMQ(t)
	ca := testenv.NewCA(t, net.ParseIP("127.0.0.1"))
	addr := testenv.TLSFront(t, ca, testenv.RabbitMQAddr())
	// Every other test in this package dials amqp://, where the TLS
	// configuration is not read.
	require.NoError(t, brokertls.Use(string(ca.CertPEM)))
	t.Cleanup(func() { _ = brokertls.Use("") })

	url := "amqps" + strings.TrimPrefix(testenv.AMQPURLAs(addr, vhost, topology.Receiver), "amqp")
	// A long deadline: 3 MB through TLS and a proxy on a busy machine.
	p := publish.New(context.Background(), publish.Config{URL: url, Logger: quiet, Channels: 4, ConfirmTimeout: 30 * time.Second})
	t.Cleanup(p.Close)

	bodies := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		e := msg(i)
		e.Body = []byte(strings.Repeat(fmt.Sprintf("%02d", i), 100_000)) // 200 kB: past one TLS record and the frame size
		bodies[e.ID] = string(e.Body)
		wg.Add(1)
		go func() { defer wg.Done(); errs <- p.Publish(context.Background(), e) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, bodies, queuedBodies(t, vhost))
}
