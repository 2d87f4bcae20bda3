package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// MySQLPassword returns the reader of the current database password
// (MYSQL_PASSWORD_SECRET_ARN, else MYSQL_PASSWORD_FILE), or nil when the
// password is the one in MYSQL_DSN/MYSQL_PASSWORD, fixed at start.
func (c Config) MySQLPassword() func(context.Context) (string, error) {
	switch {
	case c.MySQLPasswordSecretArn != "":
		arn := c.MySQLPasswordSecretArn
		var client *secretsmanager.Client
		return func(ctx context.Context) (string, error) {
			if client == nil { // the store serialises calls
				cfg, err := awsconfig.LoadDefaultConfig(ctx)
				if err != nil {
					return "", fmt.Errorf("MYSQL_PASSWORD_SECRET_ARN: AWS config: %w", err)
				}
				client = secretsmanager.NewFromConfig(cfg)
			}
			out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
			if err != nil {
				return "", fmt.Errorf("MYSQL_PASSWORD_SECRET_ARN: %w", err)
			}
			if out.SecretString == nil {
				return "", errors.New("MYSQL_PASSWORD_SECRET_ARN: secret has no string value")
			}
			p, err := SecretPassword(*out.SecretString)
			if err != nil {
				return "", fmt.Errorf("MYSQL_PASSWORD_SECRET_ARN: %w", err)
			}
			return p, nil
		}
	case c.MySQLPasswordFile != "":
		path := c.MySQLPasswordFile
		return func(context.Context) (string, error) {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("MYSQL_PASSWORD_FILE: %w", err)
			}
			p, err := SecretPassword(string(b))
			if err != nil {
				return "", fmt.Errorf("MYSQL_PASSWORD_FILE %s: %w", path, err)
			}
			return p, nil
		}
	}
	return nil
}

// SecretPassword reads a password from a secret's value: the "password" key
// of a JSON object (the shape of RDS and Secrets Manager rotation secrets:
// {"username": …, "password": …, …}), or the whole value without a
// trailing newline.
func SecretPassword(v string) (string, error) {
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") {
		var s struct {
			Password *string `json:"password"`
		}
		if err := json.Unmarshal([]byte(t), &s); err != nil {
			return "", errors.New("JSON value is not an object with a password")
		}
		if s.Password == nil || *s.Password == "" {
			return "", errors.New(`JSON value has no "password"`)
		}
		return *s.Password, nil
	}
	p := strings.TrimRight(v, "\r\n")
	if p == "" {
		return "", errors.New("empty")
	}
	return p, nil
}
