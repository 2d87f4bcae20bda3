package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const srcDoc = "sources:\n  - {name: gh, hosts: [h.example.com], scheme: github, secrets: [s]}\n"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sources.yaml")
	require.NoError(t, os.WriteFile(file, []byte(srcDoc), 0o600))
	secrets := map[string]string{
		"arn:sources": "sources:\n  - {name: fromsecret, hosts: [h.example.com], scheme: github, secrets: [s]}\n",
		"arn:broker":  `{"username":"hook","password":"p@ss/word"}`,
		"arn:bad":     `not json`,
		"arn:ca":      testCA,
	}
	read := func(_ context.Context, arn string) (string, error) {
		if v, ok := secrets[arn]; ok {
			return v, nil
		}
		return "", errors.New("AccessDenied")
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{"local file", map[string]string{"RABBITMQ_URL": "amqp://localhost/", "WEBHOOK_SOURCES_FILE": file}, "", func(t *testing.T, c config) {
			require.False(t, c.Lambda)
			require.Equal(t, "127.0.0.1:8080", c.ListenAddr)
			require.Equal(t, []string{"gh"}, c.Sources.Names())
			require.Equal(t, 1, c.Channels)
		}},
		{"secret wins over file", map[string]string{"RABBITMQ_URL": "amqp://localhost/", "WEBHOOK_SOURCES_FILE": file, "WEBHOOK_SOURCES_SECRET_ARN": "arn:sources", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, "", func(t *testing.T, c config) {
			require.True(t, c.Lambda)
			require.Equal(t, 1, c.Channels)
			require.Equal(t, []string{"fromsecret"}, c.Sources.Names())
		}},
		{"broker credentials from secret", map[string]string{"RABBITMQ_URL": "amqps://broker.internal:5671/hookline", "RABBITMQ_SECRET_ARN": "arn:broker", "WEBHOOK_SOURCES_FILE": file}, "", func(t *testing.T, c config) {
			require.Equal(t, "amqps://hook:p%40ss%2Fword@broker.internal:5671/hookline", c.RabbitURL)
		}},
		{"broker CA from its secret", map[string]string{"RABBITMQ_URL": "amqps://b:5671/h", "RABBITMQ_CA_SECRET_ARN": "arn:ca", "RABBITMQ_CA": "ignored", "WEBHOOK_SOURCES_FILE": file}, "", func(t *testing.T, c config) {
			require.Equal(t, testCA, c.RabbitCA)
		}},
		{"bad broker CA secret", map[string]string{"RABBITMQ_URL": "amqps://b:5671/h", "RABBITMQ_CA_SECRET_ARN": "arn:bad", "WEBHOOK_SOURCES_FILE": file}, "RABBITMQ_CA", nil},
		{"unreadable broker CA secret", map[string]string{"RABBITMQ_URL": "amqps://b:5671/h", "RABBITMQ_CA_SECRET_ARN": "arn:nope", "WEBHOOK_SOURCES_FILE": file}, "RABBITMQ_CA_SECRET_ARN: AccessDenied", nil},
		{"channels override", map[string]string{"RABBITMQ_URL": "amqp://x/", "WEBHOOK_SOURCES_FILE": file, "PUBLISH_CHANNELS": "8"}, "", func(t *testing.T, c config) {
			require.Equal(t, 8, c.Channels)
		}},
		{"bad channels", map[string]string{"RABBITMQ_URL": "amqp://x/", "WEBHOOK_SOURCES_FILE": file, "PUBLISH_CHANNELS": "0"}, "PUBLISH_CHANNELS", nil},
		{"no broker url", map[string]string{"WEBHOOK_SOURCES_FILE": file}, "RABBITMQ_URL is required", nil},
		{"no sources", map[string]string{"RABBITMQ_URL": "amqp://x/"}, "WEBHOOK_SOURCES_FILE or WEBHOOK_SOURCES_SECRET_ARN", nil},
		{"missing file", map[string]string{"RABBITMQ_URL": "amqp://x/", "WEBHOOK_SOURCES_FILE": file + ".nope"}, "no such file", nil},
		{"unreadable secret", map[string]string{"RABBITMQ_URL": "amqp://x/", "WEBHOOK_SOURCES_SECRET_ARN": "arn:nope"}, "AccessDenied", nil},
		{"bad broker secret", map[string]string{"RABBITMQ_URL": "amqp://x/", "RABBITMQ_SECRET_ARN": "arn:bad", "WEBHOOK_SOURCES_FILE": file}, `{"username"`, nil},
		{"bad sources secret", map[string]string{"RABBITMQ_URL": "amqp://x/", "WEBHOOK_SOURCES_SECRET_ARN": "arn:bad"}, "WEBHOOK_SOURCES_SECRET_ARN: sources:", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfigWith(context.Background(), envOf(c.env), read)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			c.check(t, cfg)
		})
	}
}

// testCA is a self-signed certificate (the shape of the stack's broker CA).
const testCA = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT+gAwIBAgIUGVcOCj7Zbe8x/OCIk7dWiDsOSIswCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXaG9va2xpbmUgdGVzdCBicm9rZXIgQ0EwHhcNMjYxMjAyMDQz
OTA1WhcNMzYxMTI5MDQzOTA1WjAiMSAwHgYDVQQDDBdob29rbGluZSB0ZXN0IGJy
b2tlciBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABCXxINjap8I1TDkN+mZr
jSejyMA1trM/uWzyqx3xDw9TupLQaLY0RcsR7KJORPxJ1xVHpW4RAt7D0xhuBK9J
Lv6jUzBRMB0GA1UdDgQWBBRGEoSBTpmishW17G0t9+xEyeeD+zAfBgNVHSMEGDAW
gBRGEoSBTpmishW17G0t9+xEyeeD+zAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49
BAMCA0cAMEQCIDMAzAS5HWHfpwBsXpl/l6HhDN0VkyzuQQgn0X4YrBBbAiAemb96
/3RIUZ1ceBv4DLYxAO8fjIszbkMJejJWEJAwLA==
-----END CERTIFICATE-----`

// TestLoadConfigConnectsWhileSourcesLoad: the broker half reaches connect
// while the sources secret is still being read (cold start pays for the
// longer of the two); errors from either half still fail the load.
func TestLoadConfigConnectsWhileSourcesLoad(t *testing.T) {
	t.Parallel()
	connected := make(chan struct{})
	read := func(ctx context.Context, arn string) (string, error) {
		switch arn {
		case "arn:sources": // answers only once the broker half has connected
			select {
			case <-connected:
				return srcDoc, nil
			case <-time.After(10 * time.Second):
				return "", errors.New("connect was not called while the sources were read")
			}
		case "arn:bad-sources":
			<-connected
			return "sources: [", nil
		}
		return "", errors.New("AccessDenied")
	}
	env := map[string]string{"RABBITMQ_URL": "amqp://u:p@b:5672/v", "WEBHOOK_SOURCES_SECRET_ARN": "arn:sources"}
	var got config
	cfg, err := loadConfigThen(context.Background(), envOf(env), read, func(c config) error {
		got = c
		close(connected)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, "amqp://u:p@b:5672/v", got.RabbitURL)
	require.Nil(t, got.Sources, "connect sees the broker half only")
	require.Equal(t, []string{"gh"}, cfg.Sources.Names())

	connected = make(chan struct{})
	env["WEBHOOK_SOURCES_SECRET_ARN"] = "arn:bad-sources"
	_, err = loadConfigThen(context.Background(), envOf(env), read, func(config) error { close(connected); return nil })
	require.ErrorContains(t, err, "WEBHOOK_SOURCES_SECRET_ARN: sources:")

	_, err = loadConfigThen(context.Background(), envOf(map[string]string{"RABBITMQ_URL": "amqp://b/", "WEBHOOK_SOURCES_FILE": "/nonexistent"}), read,
		func(config) error { return errors.New("bad CA") })
	require.ErrorContains(t, err, "bad CA", "connect's error wins over the sources'")
}
