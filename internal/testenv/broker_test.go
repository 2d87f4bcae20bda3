package testenv

import (
	"net/url"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"
)

// TestGuestHasNoGrant: as in production, where the bootstrap deletes guest,
// guest cannot open a test's vhost; its admin user can.
func TestGuestHasNoGrant(t *testing.T) {
	t.Parallel()
	vhost := RabbitMQ(t)
	if c, err := amqp.Dial("amqp://guest:guest@" + amqpHost + "/" + url.PathEscape(vhost)); err == nil {
		c.Close()
		t.Fatal("guest opened the test's vhost")
	}
	c, err := amqp.Dial(AMQPURL("", vhost))
	if err != nil {
		t.Fatalf("the test's admin user: %v", err)
	}
	c.Close()
}
