// Command lambda is hookline's webhook receiver. With AWS_LAMBDA_RUNTIME_API
// set it serves API Gateway HTTP API events as a Lambda function; otherwise it
// serves the same handler over HTTP on LISTEN_ADDR.
//
//	validate (path, method, host, origin, size, signature)
//	  → publish with confirms → 202 {"id": …}
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hookline/hookline/internal/brokertls"
	"github.com/hookline/hookline/lambda/publish"
	"github.com/hookline/hookline/lambda/receiver"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("service", "receiver")
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("receiver stopped", "err", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The broker is dialled as soon as its half of the configuration is
	// known, while the sources document is read.
	var pub *publish.Publisher
	cfg, err := loadConfigThen(ctx, os.Getenv, awsSecretReader, func(c config) error {
		if err := brokertls.Use(c.RabbitCA); err != nil {
			return fmt.Errorf("RABBITMQ_CA: %w", err)
		}
		pub = publish.New(ctx, publish.Config{URL: c.RabbitURL, Channels: c.Channels, Logger: log})
		return nil
	})
	if pub != nil {
		defer pub.Close()
	}
	if err != nil {
		// A bad sources document or an unreadable secret is a deploy error:
		// say so to Lambda. (An unreachable broker is not: it is retried per
		// request, each answered 503 until it is back.)
		if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
			if rerr := reportInitError(ctx, api, err); rerr != nil {
				log.Error("could not report the init error", "err", rerr)
			}
		}
		return err
	}
	h := receiver.New(cfg.Sources, pub, log)

	if cfg.Lambda {
		// EMF lines on stdout: CloudWatch Logs turns them into metrics,
		// no API call on the request path.
		h.WithMetrics(receiver.NewMetrics(receiver.MetricsConfig{EMF: os.Stdout,
			Stack: os.Getenv("HOOKLINE_STACK"), Function: os.Getenv("AWS_LAMBDA_FUNCTION_NAME")}))
		log.Info("starting in Lambda mode", "sources", cfg.Sources.Names())
		lambda.StartWithOptions(h.HandleAPIGateway, lambda.WithContext(ctx))
		return nil
	}
	m := receiver.NewMetrics(receiver.MetricsConfig{})
	h.WithMetrics(m)
	return serve(ctx, log, cfg.ListenAddr, receiver.LocalHandler(h, m))
}

// serve runs the local HTTP server until ctx ends, then drains it.
func serve(ctx context.Context, log *slog.Logger, addr string, h http.Handler) error {
	srv := receiver.LocalServer(addr, h)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("receiver listening", "addr", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
