package config

import (
	"net/url"
	"regexp"
	"strings"
)

// Logs is optional log shipping to Loki: a shipper Lambda (logship/)
// subscribed to the receiver's and the processor's log groups, so
// CloudWatch keeps every line and Loki gets a copy (docs/observability.md,
// "Shipping logs to Loki").
type Logs struct {
	// LokiURL is Loki's base URL (https://…, no credentials, no query);
	// the shipper posts to <lokiUrl>/loki/api/v1/push. Empty: no shipping,
	// and no shipper resources.
	LokiURL string `json:"lokiUrl"`
	// LokiSecretArn is an existing Secrets Manager secret in the stack's
	// region, JSON {"username": …, "password": …}, sent as HTTP basic auth
	// (a Grafana Cloud user id and token); the shipper may read only this
	// secret. Empty: pushes carry no Authorization header.
	LokiSecretArn string `json:"lokiSecretArn"`
}

// Shipping reports whether the stack ships logs to Loki.
func (l Logs) Shipping() bool { return l.LokiURL != "" }

var secretArnPattern = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$`)

func (c Config) validateLogs() error {
	l := c.Logs
	if l.LokiURL == "" {
		if l.LokiSecretArn != "" {
			return keyErr("logs.lokiSecretArn", "set without logs.lokiUrl; accepts a secret ARN only with a Loki URL")
		}
		return nil
	}
	u, err := url.Parse(l.LokiURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		strings.HasSuffix(u.Path, "/loki/api/v1/push") {
		return keyErr("logs.lokiUrl", "%q is not a Loki base URL; accepts https://host[/prefix] without credentials or query (the push path is added)", l.LokiURL)
	}
	if l.LokiSecretArn != "" {
		m := secretArnPattern.FindStringSubmatch(l.LokiSecretArn)
		if m == nil {
			return keyErr("logs.lokiSecretArn", "%q is not a Secrets Manager secret ARN; accepts arn:aws:secretsmanager:<region>:<account>:secret:<name>", l.LokiSecretArn)
		}
		if m[1] != c.Region {
			return keyErr("logs.lokiSecretArn", "the secret is in %s, the stack in %s; accepts a secret in the stack's region", m[1], c.Region)
		}
	}
	return nil
}
