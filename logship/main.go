// Command logship is hookline's Loki shipper Lambda: CloudWatch Logs
// subscription filters on the receiver's and the processor's log groups
// invoke it, and it pushes each batch to Loki (logship/ship). CloudWatch
// keeps every line, the EMF metric lines included.
//
// Environment: LOKI_URL (required), LOKI_SECRET_ARN (optional basic auth
// secret {"username": …, "password": …}), HOOKLINE_STACK (the stack label).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hookline/hookline/internal/secretvalue"
	"github.com/hookline/hookline/logship/ship"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "logship")
	slog.SetDefault(log)
	s, err := ship.New(ship.Config{
		URL:        os.Getenv("LOKI_URL"),
		Stack:      os.Getenv("HOOKLINE_STACK"),
		SecretARN:  os.Getenv("LOKI_SECRET_ARN"),
		ReadSecret: readSecret,
		Logger:     log,
	})
	if err != nil {
		log.Error("logship stopped", "err", err)
		os.Exit(1)
	}
	lambda.Start(s.Handle)
}

// secrets is the Secrets Manager client on the credentials Lambda puts in
// the environment (internal/secretvalue), made on first use.
var secrets = sync.OnceValues(func() (*secretsmanager.Client, error) {
	return secretvalue.FromEnvironment(os.Getenv)
})

func readSecret(ctx context.Context, arn string) (string, error) {
	c, err := secrets()
	if err != nil {
		return "", fmt.Errorf("AWS credentials: %w", err)
	}
	return secretvalue.Get(ctx, c, arn)
}
