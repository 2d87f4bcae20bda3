// Package secrets reads AWS Secrets Manager secrets: the one reader the
// receiver and the processor share (broker credentials, the sources
// document). The AWS configuration is loaded on first use, so a process
// that never reads a secret (local mode) needs no AWS credentials.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
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
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	if out.SecretString == nil {
		return "", errors.New("secret has no string value")
	}
	return *out.SecretString, nil
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
