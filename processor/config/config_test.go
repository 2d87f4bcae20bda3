package config_test

import (
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
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
				require.Equal(t, config.DefaultBodyBudget(config.MemoryLimit()), c.BodyBudget)
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
		{"EMF lines off without a stack", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f"}, "",
			func(t *testing.T, c config.Config) {
				require.Empty(t, c.Stack)
				require.Equal(t, time.Minute, c.EMFInterval)
			}},
		{"EMF lines for a stack", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"HOOKLINE_STACK": "hookline-prod", "METRICS_EMF_INTERVAL": "30s"}, "",
			func(t *testing.T, c config.Config) {
				require.Equal(t, "hookline-prod", c.Stack)
				require.Equal(t, 30*time.Second, c.EMFInterval)
			}},
		{"EMF interval too short", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"HOOKLINE_STACK": "s", "METRICS_EMF_INTERVAL": "10ms"}, "METRICS_EMF_INTERVAL", nil},
		{"queue metrics collector", map[string]string{"RABBITMQ_URL": "amqps://b:5671/hookline", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"QUEUE_METRICS_ENDPOINTS": "https://b1:15691, https://b2:15691", "QUEUE_METRICS_USERNAME": "hookline-collector",
			"QUEUE_METRICS_MANAGEMENT": "https://b1:15671,https://b2:15671",
			"QUEUE_METRICS_PASSWORD":   "pw", "QUEUE_METRICS_STACK": "hookline-prod", "QUEUE_METRICS_CA": "/ca.pem"}, "",
			func(t *testing.T, c config.Config) {
				q := c.QueueMetrics
				require.Equal(t, []string{"https://b1:15691", "https://b2:15691"}, q.Endpoints)
				require.Equal(t, []string{"https://b1:15671", "https://b2:15671"}, q.Management)
				require.Equal(t, "hookline", q.Vhost)
				require.Equal(t, time.Minute, q.Interval)
				require.Equal(t, "hookline-collector", q.Username)
				require.Equal(t, "/ca.pem", q.CA)
			}},
		{"queue metrics CA from the broker's", map[string]string{"RABBITMQ_URL": "amqps://b:5671/hookline", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"QUEUE_METRICS_ENDPOINTS": "https://b:15691", "QUEUE_METRICS_STACK": "s", "RABBITMQ_CA": brokerCA}, "",
			func(t *testing.T, c config.Config) {
				require.Contains(t, c.QueueMetrics.CA, "BEGIN CERTIFICATE")
			}},
		{"queue metrics without a stack", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"QUEUE_METRICS_ENDPOINTS": "http://b:15692"}, "QUEUE_METRICS_STACK: required", nil},
		{"queue metrics endpoint not a URL", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"QUEUE_METRICS_ENDPOINTS": "b:15692", "QUEUE_METRICS_STACK": "s"}, "QUEUE_METRICS_ENDPOINTS:", nil},
		{"queue metrics management endpoint not a URL", map[string]string{"RABBITMQ_URL": "amqp://x", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f",
			"QUEUE_METRICS_ENDPOINTS": "http://b:15692", "QUEUE_METRICS_MANAGEMENT": "b:15672", "QUEUE_METRICS_STACK": "s"}, "QUEUE_METRICS_MANAGEMENT:", nil},
		{"credentials in their own variables (ECS)", map[string]string{
			"RABBITMQ_URL": "amqps://broker.internal:5671/hookline", "RABBITMQ_USERNAME": "processor", "RABBITMQ_PASSWORD": "p@ss/word",
			"REDIS_URL": "rediss://cache.internal:6379", "REDIS_PASSWORD": "tok!en",
			"MYSQL_DSN": "tcp(db.internal:3306)/hookline?tls=true", "MYSQL_USER": "admin", "MYSQL_PASSWORD": "s3cr:et@",
			"WEBHOOK_SOURCES": "sources: []"}, "",
			func(t *testing.T, c config.Config) {
				require.Equal(t, "amqps://processor:p%40ss%2Fword@broker.internal:5671/hookline", c.RabbitMQURL)
				require.Equal(t, "rediss://:tok%21en@cache.internal:6379", c.RedisURL)
				cfg, err := mysql.ParseDSN(c.MySQLDSN)
				require.NoError(t, err)
				require.Equal(t, "admin", cfg.User)
				require.Equal(t, "s3cr:et@", cfg.Passwd)
				require.Equal(t, "db.internal:3306", cfg.Addr)
				require.Equal(t, "hookline", cfg.DBName)
				require.Equal(t, "true", cfg.TLSConfig)
			}},
		{"bad MYSQL_CA", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "tcp(h:3306)/d", "WEBHOOK_SOURCES": "x",
			"MYSQL_CA": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}, "MYSQL_CA", nil},
		{"bad RABBITMQ_CA", map[string]string{"RABBITMQ_URL": "amqps://b:5671/h", "REDIS_URL": "redis://x", "MYSQL_DSN": "tcp(h:3306)/d", "WEBHOOK_SOURCES": "x",
			"RABBITMQ_CA": "/nonexistent/broker-ca.pem"}, "RABBITMQ_CA", nil},
		{"inline sources", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES": "sources: []"}, "",
			func(t *testing.T, c config.Config) { require.Equal(t, "sources: []", c.SourcesDoc) }},
		{"sources in a secret", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d",
			"WEBHOOK_SOURCES_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:sources", "SOURCES_RELOAD_INTERVAL": "5s"}, "",
			func(t *testing.T, c config.Config) {
				require.Equal(t, "arn:aws:secretsmanager:eu-west-1:1:secret:sources", c.SourcesSecret)
				require.Equal(t, 5*time.Second, c.SourcesReload)
			}},
		{"body budget", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f", "BODY_BUDGET": "64MiB"}, "",
			func(t *testing.T, c config.Config) { require.Equal(t, int64(64<<20), c.BodyBudget) }},
		{"body budget off", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f", "BODY_BUDGET": "0"}, "",
			func(t *testing.T, c config.Config) { require.Zero(t, c.BodyBudget) }},
		{"bad body budget", map[string]string{"RABBITMQ_URL": "a", "REDIS_URL": "redis://x", "MYSQL_DSN": "d", "WEBHOOK_SOURCES_FILE": "f", "BODY_BUDGET": "12 apples"}, "BODY_BUDGET", nil},
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

// brokerCA is a self-signed certificate shaped like the stack's broker CA:
// RABBITMQ_CA is parsed at start, so it must be a real one.
const brokerCA = `-----BEGIN CERTIFICATE-----
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
