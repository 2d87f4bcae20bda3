package config_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/config"
)

func TestFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	all := config.Need{RabbitMQ: true, Redis: true, MySQL: true, Sources: true}
	for _, tc := range []struct {
		name string
		env  map[string]string
		err  string
		chk  func(t *testing.T, c config.Config)
	}{
		{"defaults", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "u@tcp(h)/d", "WEBHOOK_SOURCES_FILE": "f"}, "",
			func(t *testing.T, c config.Config) {
				require.Equal(t, ":9090", c.HTTPAddr)
				require.Equal(t, config.DefaultPrefetch, c.Prefetch)
				require.Equal(t, config.DefaultShutdownTimeout, c.ShutdownTimeout)
			}},
		{"overrides", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "rediss://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"PREFETCH": "50", "CONCURRENCY": "2", "SHUTDOWN_TIMEOUT": "40s", "MAX_ATTEMPTS": "7", "LOCK_TTL": "10"}, "",
			func(t *testing.T, c config.Config) {
				require.Equal(t, 50, c.Prefetch)
				require.Equal(t, 2, c.Concurrency)
				require.Equal(t, 40*time.Second, c.ShutdownTimeout)
				require.Equal(t, 7, c.MaxAttempts)
				require.Equal(t, 10*time.Second, c.LockTTL)
			}},
		{"missing", map[string]string{}, "RABBITMQ_URL: required", nil},
		{"inline sources", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES": "sources: []"}, "",
			func(t *testing.T, c config.Config) { require.Equal(t, "sources: []", c.SourcesDoc) }},
		{"no sources", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d"}, "WEBHOOK_SOURCES_FILE: required", nil},
		{"bad prefetch", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f", "PREFETCH": "5000"}, "PREFETCH", nil},
		{"bad redis", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "http://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f"}, "REDIS_URL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.FromEnv(env(tc.env), all)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.chk(t, c)
		})
	}
}
