// Package secrets reads AWS Secrets Manager secrets on the SDK's default
// credential chain (the processor's task role, an operator's profile):
// internal/secretvalue's one GetSecretValue reader with a client from the
// default configuration, loaded on first use, so a process that never reads
// a secret (local mode) needs no AWS credentials. The receiver Lambda uses
// secretvalue with its environment's credentials instead, so its cold start
// does not initialise the default chain.
package secrets

import (
	"context"
	"fmt"
	"sync"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/hookline/hookline/internal/secretvalue"
)

var (
	mu     sync.Mutex
	client *secretsmanager.Client
)

// Read returns the string value of the secret arn (its current version).
func Read(ctx context.Context, arn string) (string, error) {
	c, err := sm(ctx)
	if err != nil {
		return "", err
	}
	return secretvalue.Get(ctx, c, arn)
}

func sm(ctx context.Context) (*secretsmanager.Client, error) {
	mu.Lock()
	defer mu.Unlock()
	if client != nil {
		return client, nil
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS config: %w", err)
	}
	client = secretsmanager.NewFromConfig(cfg)
	return client, nil
}
