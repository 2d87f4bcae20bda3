package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/secrets"
	"github.com/hookline/hookline/internal/sources"
)

// config is everything the receiver reads at start-up.
type config struct {
	Lambda     bool
	ListenAddr string
	RabbitURL  string
	// RabbitCA is the broker CA (PEM, or a PEM file's path) amqps://
	// verifies against: RABBITMQ_CA, or the secret RABBITMQ_CA_SECRET_ARN
	// (the stack's broker CA certificate); empty: the system roots.
	RabbitCA string
	Sources  *sources.Set
	// Channels: confirm-mode channels to spread publishes over. A Lambda
	// instance serves one request at a time, so one channel (one round trip
	// at cold start); the local server serves many at once.
	Channels int
}

// secretReader fetches a Secrets Manager secret's string value.
type secretReader func(ctx context.Context, arn string) (string, error)

// loadConfig reads the environment (DESIGN.md, receiver section). Secrets
// come from Secrets Manager only when an ARN is set, so local mode needs no
// AWS credentials.
func loadConfig(ctx context.Context, getenv func(string) string) (config, error) {
	return loadConfigWith(ctx, getenv, awsSecretReader)
}

func loadConfigWith(ctx context.Context, getenv func(string) string, read secretReader) (config, error) {
	c := config{
		Lambda:     getenv("AWS_LAMBDA_RUNTIME_API") != "",
		ListenAddr: getenv("LISTEN_ADDR"),
		RabbitURL:  getenv("RABBITMQ_URL"),
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:8080"
	}
	c.Channels = 64
	if c.Lambda {
		c.Channels = 1
	}
	if v := getenv("PUBLISH_CHANNELS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1024 {
			return c, fmt.Errorf("PUBLISH_CHANNELS: %q is not a number in 1..1024", v)
		}
		c.Channels = n
	}
	if c.RabbitURL == "" {
		return c, errors.New("RABBITMQ_URL is required (amqp://host:5672/vhost or amqps://…)")
	}
	if arn := getenv("RABBITMQ_SECRET_ARN"); arn != "" {
		raw, err := read(ctx, arn)
		if err != nil {
			return c, fmt.Errorf("RABBITMQ_SECRET_ARN: %w", err)
		}
		if c.RabbitURL, err = withCredentials(c.RabbitURL, raw); err != nil {
			return c, fmt.Errorf("RABBITMQ_SECRET_ARN: %w", err)
		}
	}
	c.RabbitCA = getenv("RABBITMQ_CA")
	if arn := getenv("RABBITMQ_CA_SECRET_ARN"); arn != "" { // the secret wins when both are set
		raw, err := read(ctx, arn)
		if err != nil {
			return c, fmt.Errorf("RABBITMQ_CA_SECRET_ARN: %w", err)
		}
		c.RabbitCA = raw
	}
	if c.RabbitCA != "" {
		if _, err := brokertls.Config(c.RabbitCA); err != nil {
			return c, fmt.Errorf("RABBITMQ_CA: %w", err)
		}
	}
	var err error
	switch arn, file := getenv("WEBHOOK_SOURCES_SECRET_ARN"), getenv("WEBHOOK_SOURCES_FILE"); {
	case arn != "": // the secret wins when both are set
		var raw string
		if raw, err = read(ctx, arn); err != nil {
			return c, fmt.Errorf("WEBHOOK_SOURCES_SECRET_ARN: %w", err)
		}
		if c.Sources, err = sources.Parse([]byte(raw)); err != nil {
			return c, fmt.Errorf("WEBHOOK_SOURCES_SECRET_ARN: %w", err)
		}
	case file != "":
		if c.Sources, err = sources.LoadFile(file); err != nil {
			return c, err
		}
	default:
		return c, errors.New("set WEBHOOK_SOURCES_FILE or WEBHOOK_SOURCES_SECRET_ARN")
	}
	return c, nil
}

// withCredentials puts the username and password of a JSON secret
// ({"username": …, "password": …}) into an AMQP URL.
func withCredentials(rawURL, secret string) (string, error) {
	var cred struct{ Username, Password string }
	if err := json.Unmarshal([]byte(secret), &cred); err != nil || cred.Username == "" || cred.Password == "" {
		return "", errors.New(`secret must be JSON {"username": "…", "password": "…"}`)
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
		return "", errors.New("RABBITMQ_URL is not an amqp:// or amqps:// URL")
	}
	u.User = url.UserPassword(cred.Username, cred.Password)
	return u.String(), nil
}

// awsSecretReader reads from Secrets Manager (internal/secrets).
func awsSecretReader(ctx context.Context, arn string) (string, error) { return secrets.Read(ctx, arn) }
