package config_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/processor/config"
)

func TestSecretPassword(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`{"username":"hookline_processor","password":"p@ss word","engine":"mariadb"}`, "p@ss word", ""},
		{"plain-secret\n", "plain-secret", ""},
		{" spaced \r\n", " spaced ", ""},
		{`{"username":"x"}`, "", "no \"password\""},
		{`{"password":`, "", "not an object"},
		{"\n", "", "empty"},
	} {
		got, err := config.SecretPassword(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			require.NotContains(t, err.Error(), "hookline_processor")
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got)
	}
}

func TestMySQLPasswordSources(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	base := map[string]string{"MYSQL_DSN": "hookline_processor@tcp(db:3306)/hookline"}
	c, err := config.FromEnv(env(base), config.Need{MySQL: true})
	require.NoError(t, err)
	require.Nil(t, c.MySQLPassword(), "no source: the DSN's password, fixed")

	file := filepath.Join(t.TempDir(), "password")
	require.NoError(t, os.WriteFile(file, []byte("first\n"), 0o600))
	base["MYSQL_PASSWORD_FILE"] = file
	c, err = config.FromEnv(env(base), config.Need{MySQL: true})
	require.NoError(t, err)
	read := c.MySQLPassword()
	p, err := read(context.Background())
	require.NoError(t, err)
	require.Equal(t, "first", p)
	require.NoError(t, os.WriteFile(file, []byte(`{"username":"hookline_processor","password":"second"}`), 0o600))
	p, err = read(context.Background())
	require.NoError(t, err)
	require.Equal(t, "second", p, "read again, not cached here (the store caches)")

	base["MYSQL_PASSWORD_SECRET_ARN"] = "not-an-arn"
	_, err = config.FromEnv(env(base), config.Need{MySQL: true})
	require.ErrorContains(t, err, "MYSQL_PASSWORD_SECRET_ARN")

	_, err = config.FromEnv(env(map[string]string{"MYSQL_DSN": "d", "PROCESSOR_DB_USER": "p"}), config.Need{MySQL: true})
	require.ErrorContains(t, err, "PROCESSOR_DB_PASSWORD: required")
}

// The Secrets Manager path against a stand-in endpoint (the SDK's
// AWS_ENDPOINT_URL_SECRETS_MANAGER): the secret's JSON password, read again
// on every call.
func TestMySQLPasswordSecretsManager(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var in struct{ SecretId string }
		_ = json.Unmarshal(b, &in)
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || in.SecretId != "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-processor" {
			http.Error(w, `{"__type":"ResourceNotFoundException"}`, http.StatusBadRequest)
			return
		}
		n := calls.Add(1)
		v, _ := json.Marshal(map[string]string{"username": "hookline_processor", "password": []string{"one", "two"}[min(n-1, 1)]})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]string{"ARN": in.SecretId, "SecretString": string(v)})
	}))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "example")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	c, err := config.FromEnv(func(k string) string {
		return map[string]string{"MYSQL_DSN": "u@tcp(db)/d", "MYSQL_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-processor", "MYSQL_PASSWORD_FILE": "/ignored"}[k]
	}, config.Need{MySQL: true})
	require.NoError(t, err)
	read := c.MySQLPassword()
	for _, want := range []string{"one", "two"} {
		p, err := read(context.Background())
		require.NoError(t, err)
		require.Equal(t, want, p)
	}
	require.Equal(t, int32(2), calls.Load())
}
