// Command canary is hookline's end-to-end canary. An EventBridge schedule
// invokes it every few minutes as a Lambda function; each run signs a
// canary ping for the canary source and POSTs it to the stack's public
// webhook URL, through Cloudflare like any sender (lambda/canary/probe).
// The processor records the ping's arrival (internal/canary); the canary
// records its own outcome as an EMF line. docs/observability.md, "Canary".
//
// Environment: CANARY_URL (https://<public hostname>/webhooks/hookline-canary),
// HOOKLINE_STACK, CANARY_SECRET_ARN (the canary source's secret in Secrets
// Manager) or, outside AWS, CANARY_SECRET (the secret itself),
// CANARY_TIMEOUT (a Go duration, default 10s). Without
// AWS_LAMBDA_RUNTIME_API it makes one run, prints its result and exits 0
// when the endpoint answered 2xx, 1 otherwise (a local check against
// `make local`'s receiver).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hookline/hookline/internal/secrets"
	"github.com/hookline/hookline/lambda/canary/probe"
)

// DefaultTimeout bounds a run's request when CANARY_TIMEOUT is not set.
const DefaultTimeout = 10 * time.Second

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "canary")
	inLambda := os.Getenv("AWS_LAMBDA_RUNTIME_API") != ""
	if inLambda {
		// Lambda ships stdout and stderr alike; the EMF lines need stdout.
		log = slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "canary")
	}
	cfg, err := configFromEnv(os.Getenv, secrets.Read)
	if err != nil {
		log.Error("canary not started", "err", err)
		os.Exit(2)
	}
	cfg.Log = log
	if inLambda {
		cfg.EMF = os.Stdout
		cfg.Function = os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	p, err := probe.New(cfg)
	if err != nil {
		log.Error("canary not started", "err", err)
		os.Exit(2)
	}
	if inLambda {
		// A failed run is reported (metric, log), not returned as an
		// error: Lambda would retry it, and a retry is a second canary
		// that hides the first one's failure.
		lambda.Start(func(ctx context.Context) (probe.Result, error) { return p.Run(ctx), nil })
		return
	}
	res := p.Run(context.Background())
	_ = json.NewEncoder(os.Stdout).Encode(res)
	if !res.OK() {
		os.Exit(1)
	}
}

// configFromEnv reads the canary's environment; read fetches a secret by ARN.
func configFromEnv(getenv func(string) string, read func(context.Context, string) (string, error)) (probe.Config, error) {
	cfg := probe.Config{URL: getenv("CANARY_URL"), Stack: getenv("HOOKLINE_STACK"), Timeout: DefaultTimeout}
	if cfg.URL == "" {
		return cfg, errors.New("CANARY_URL is not set: want https://<public hostname>" + probe.Path)
	}
	if cfg.Stack == "" {
		return cfg, errors.New("HOOKLINE_STACK is not set: want the stack's name, e.g. hookline-prod")
	}
	if v := getenv("CANARY_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("CANARY_TIMEOUT %q: want a positive Go duration such as 10s", v)
		}
		cfg.Timeout = d
	}
	arn, plain := getenv("CANARY_SECRET_ARN"), getenv("CANARY_SECRET")
	switch {
	case arn != "":
		cfg.Secret = func(ctx context.Context) (string, error) { return read(ctx, arn) }
	case plain != "":
		cfg.Secret = func(context.Context) (string, error) { return plain, nil }
	default:
		return cfg, errors.New("neither CANARY_SECRET_ARN nor CANARY_SECRET is set: want the canary source's secret")
	}
	return cfg, nil
}
