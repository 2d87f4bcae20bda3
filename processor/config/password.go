package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hookline/hookline/internal/secrets"
)

// MySQLPassword returns the reader of the current database password
// (MYSQL_PASSWORD_SECRET_ARN, else MYSQL_PASSWORD_FILE), or nil when the
// password is the one in MYSQL_DSN/MYSQL_PASSWORD, fixed at start.
func (c Config) MySQLPassword() func(context.Context) (string, error) {
	switch {
	case c.MySQLPasswordSecretArn != "":
		arn := c.MySQLPasswordSecretArn
		return func(ctx context.Context) (string, error) {
			v, err := secrets.Read(ctx, arn)
			if err != nil {
				return "", fmt.Errorf("MYSQL_PASSWORD_SECRET_ARN: %w", err)
			}
			p, err := SecretPassword(v)
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
