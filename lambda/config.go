package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/internal/secretvalue"
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
	// Channels: confirm-mode channels to spread publishes over: one by
	// default, in Lambda (one request at a time; one round trip at cold
	// start) and locally (the broker then confirms many publishes with one
	// ack, which costs it 0.6 of what 64 channels do; docs/decisions.md).
	Channels int
}

// secretReader fetches a Secrets Manager secret's string value.
type secretReader func(ctx context.Context, arn string) (string, error)

// loadConfigWith reads the environment (DESIGN.md, receiver section).
// Secrets come from read only when an ARN is set, so local mode needs no AWS
// credentials.
func loadConfigWith(ctx context.Context, getenv func(string) string, read secretReader) (config, error) {
	return loadConfigThen(ctx, getenv, read, nil)
}

// loadConfigThen is loadConfigWith that calls connect (when not nil) with
// the broker half of the configuration as soon as it is known, while the
// sources document is still being read (a file, or a Secrets Manager round
// trip): a cold start pays for the longer of the two, not their sum. The
// sources half is not set in connect's config; an error from connect ends
// the load.
func loadConfigThen(ctx context.Context, getenv func(string) string, read secretReader, connect func(config) error) (config, error) {
	type loaded struct {
		set *sources.Set
		err error
	}
	srcs := make(chan loaded, 1)
	go func() {
		set, err := loadSources(ctx, getenv, read)
		srcs <- loaded{set, err}
	}()
	c, err := loadBroker(ctx, getenv, read)
	if err == nil && connect != nil {
		err = connect(c)
	}
	l := <-srcs // wait even on error: the reader ends with the load
	if err != nil {
		return c, err
	}
	c.Sources = l.set
	return c, l.err
}

// loadBroker reads everything but the sources document.
func loadBroker(ctx context.Context, getenv func(string) string, read secretReader) (config, error) {
	c := config{
		Lambda:     getenv("AWS_LAMBDA_RUNTIME_API") != "",
		ListenAddr: getenv("LISTEN_ADDR"),
		RabbitURL:  getenv("RABBITMQ_URL"),
	}
	if c.ListenAddr == "" {
		c.ListenAddr = "127.0.0.1:8080"
	}
	c.Channels = 1
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
	return c, nil
}

// loadSources reads the sources document: the secret wins when both are set.
func loadSources(ctx context.Context, getenv func(string) string, read secretReader) (*sources.Set, error) {
	switch arn, file := getenv("WEBHOOK_SOURCES_SECRET_ARN"), getenv("WEBHOOK_SOURCES_FILE"); {
	case arn != "":
		raw, err := read(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_SOURCES_SECRET_ARN: %w", err)
		}
		set, err := sources.Parse([]byte(raw))
		if err != nil {
			return nil, fmt.Errorf("WEBHOOK_SOURCES_SECRET_ARN: %w", err)
		}
		return set, nil
	case file != "":
		return sources.LoadFile(file)
	default:
		return nil, errors.New("set WEBHOOK_SOURCES_FILE or WEBHOOK_SOURCES_SECRET_ARN")
	}
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

// lambdaSecrets is the Secrets Manager client on the credentials Lambda puts
// in the environment, made on first use: the SDK's default chain (and the
// STS, SSO and sign-in clients its package initialisation sets up) is not
// linked into the receiver, whose cold start it lengthened. Local mode with
// a secret ARN needs the same variables (aws configure export-credentials
// --format env prints them).
var lambdaSecrets = sync.OnceValues(func() (*secretsmanager.Client, error) {
	return secretvalue.FromEnvironment(os.Getenv)
})

// awsSecretReader reads from Secrets Manager (internal/secretvalue).
func awsSecretReader(ctx context.Context, arn string) (string, error) {
	c, err := lambdaSecrets()
	if err != nil {
		return "", fmt.Errorf("AWS credentials: %w", err)
	}
	return secretvalue.Get(ctx, c, arn)
}
