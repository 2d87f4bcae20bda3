// Package secretvalue reads one AWS Secrets Manager secret's string value
// with a client it is given: the one GetSecretValue call of the repository.
// internal/secrets gives it a client on the SDK's default credential chain
// (the processor, operators' commands); the receiver's Lambda gives it one
// on the credentials Lambda puts in its environment (FromEnvironment), so
// its cold start does not initialise the chain's STS, SSO and sign-in
// clients (docs/decisions.md, "Receiver Lambda cold start").
package secretvalue

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Get returns the string value of the secret arn (its current version).
func Get(ctx context.Context, c *secretsmanager.Client, arn string) (string, error) {
	out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read secret: %w", err)
	}
	if out.SecretString == nil {
		return "", errors.New("secret has no string value")
	}
	return *out.SecretString, nil
}

// FromEnvironment is a client on the credentials and region in the
// environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
// and AWS_REGION, which Lambda sets for the function's execution role (its
// reserved variables), and AWS_ENDPOINT_URL_SECRETS_MANAGER or
// AWS_ENDPOINT_URL when set (the SDKs' endpoint variables).
func FromEnvironment(getenv func(string) string) (*secretsmanager.Client, error) {
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case region == "":
		return nil, errors.New("AWS_REGION is not set")
	case id == "" || secret == "":
		return nil, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; elsewhere export them, e.g. aws configure export-credentials --format env)")
	}
	opts := secretsmanager.Options{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))),
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL"} {
		if v := getenv(k); v != "" {
			opts.BaseEndpoint = aws.String(v)
			break
		}
	}
	return secretsmanager.New(opts), nil
}
