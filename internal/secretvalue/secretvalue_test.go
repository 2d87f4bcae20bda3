package secretvalue_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookline/hookline/internal/secretvalue"
)

// fakeSecretsManager answers GetSecretValue (the awsJson1.1 protocol) for
// the secrets it holds, and refuses requests not signed with SigV4 for the
// expected key, region and session token.
func fakeSecretsManager(t *testing.T, values map[string]*string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") ||
			!strings.Contains(auth, "/eu-west-1/secretsmanager/aws4_request") ||
			r.Header.Get("X-Amz-Security-Token") != "session-token" {
			http.Error(w, `{"__type":"UnrecognizedClientException","message":"bad signature"}`, http.StatusBadRequest)
			return
		}
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, `{"__type":"InvalidAction"}`, http.StatusBadRequest)
			return
		}
		var in struct{ SecretId string }
		body, _ := io.ReadAll(r.Body)
		require.NoError(t, json.Unmarshal(body, &in))
		v, ok := values[in.SecretId]
		if !ok {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret."}`))
			return
		}
		out := map[string]any{"ARN": in.SecretId, "Name": "n", "VersionId": "v1"}
		if v != nil {
			out["SecretString"] = *v
		} else {
			out["SecretBinary"] = "AAEC"
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvironmentReads(t *testing.T) {
	t.Parallel()
	doc := "sources: []\n"
	srv := fakeSecretsManager(t, map[string]*string{"arn:doc": &doc, "arn:binary": nil})
	vars := map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_SESSION_TOKEN": "session-token", "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
	}
	c, err := secretvalue.FromEnvironment(env(vars))
	require.NoError(t, err)
	got, err := secretvalue.Get(context.Background(), c, "arn:doc")
	require.NoError(t, err)
	require.Equal(t, doc, got)

	_, err = secretvalue.Get(context.Background(), c, "arn:binary")
	require.ErrorContains(t, err, "no string value")
	_, err = secretvalue.Get(context.Background(), c, "arn:missing")
	require.ErrorContains(t, err, "ResourceNotFoundException")

	// Signed with other credentials: the service refuses, the error says so.
	vars["AWS_SESSION_TOKEN"] = "stale"
	c, err = secretvalue.FromEnvironment(env(vars))
	require.NoError(t, err)
	_, err = secretvalue.Get(context.Background(), c, "arn:doc")
	require.ErrorContains(t, err, "UnrecognizedClientException")
}

func TestFromEnvironmentNeedsCredentialsAndRegion(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, want string
		vars       map[string]string
	}{
		{"no region", "AWS_REGION", map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}},
		{"no key", "AWS_ACCESS_KEY_ID", map[string]string{"AWS_REGION": "eu-west-1", "AWS_SECRET_ACCESS_KEY": "s"}},
		{"no secret key", "AWS_SECRET_ACCESS_KEY", map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := secretvalue.FromEnvironment(env(c.vars))
			require.ErrorContains(t, err, c.want)
		})
	}
}
