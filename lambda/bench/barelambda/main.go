// Command barelambda is the baseline of the receiver's Lambda benchmark: a
// Lambda that does only what any broker-backed webhook Lambda must. At init
// it dials the broker (RABBITMQ_URL) and opens one confirm-mode channel; per
// event it publishes the body (the envelope's message shape: exchange
// webhooks, its routing key, mandatory, persistent, the same properties and
// headers) and waits for the confirm before answering 202. No sources
// document, no signature check, no logging, no metrics, no topology check.
// Built with the receiver's flags (-tags lambda.norpc, -trimpath, stripped).
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/hookline/hookline/internal/envelope"
	"github.com/hookline/hookline/internal/topology"
	"github.com/hookline/hookline/internal/webhooksig"
)

func main() {
	conn, err := amqp.Dial(os.Getenv("RABBITMQ_URL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false /* noWait */)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "confirm channel:", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		d := webhooksig.Delivery{ID: ev.Headers["x-github-delivery"], EventType: ev.Headers["x-github-event"]}
		e := envelope.New("gh", d, ev.RequestContext.RequestID, ev.Headers["content-type"], []byte(ev.Body), time.Now())
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, topology.Exchange, e.RoutingKey(),
			true,  // mandatory
			false, // immediate
			e.Publishing())
		if err == nil {
			var ok bool
			if ok, err = dc.WaitContext(ctx); err == nil && !ok {
				err = fmt.Errorf("nacked")
			}
		}
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: 503, Body: `{"error":"unavailable"}`}, nil
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 202, Body: `{"id":"` + e.ID + `"}`,
			Headers: map[string]string{"Content-Type": "application/json"}}, nil
	})
}
