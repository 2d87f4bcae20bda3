package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// The environment the infra sets gives a prober that reads its secret by
// ARN; CANARY_SECRET serves outside AWS; each missing or bad value is an
// error naming the variable.
func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{
		"CANARY_URL": "https://hooks.example.com/webhooks/hookline-canary", "HOOKLINE_STACK": "hookline-prod",
		"CANARY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:canary",
	}
	var asked string
	read := func(_ context.Context, arn string) (string, error) { asked = arn; return "whsec_x", nil }
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	cfg, err := configFromEnv(env(base), read)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := cfg.Secret(context.Background()); err != nil || s != "whsec_x" || asked != base["CANARY_SECRET_ARN"] {
		t.Errorf("secret %q %v read from %q; want the ARN's", s, err, asked)
	}
	if cfg.Timeout != DefaultTimeout || cfg.URL != base["CANARY_URL"] || cfg.Stack != "hookline-prod" {
		t.Errorf("%+v", cfg)
	}

	local := map[string]string{"CANARY_URL": base["CANARY_URL"], "HOOKLINE_STACK": "local", "CANARY_SECRET": "whsec_y", "CANARY_TIMEOUT": "3s"}
	cfg, err = configFromEnv(env(local), read)
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := cfg.Secret(context.Background()); s != "whsec_y" || cfg.Timeout != 3*time.Second {
		t.Errorf("secret %q timeout %v; want CANARY_SECRET and 3s", s, cfg.Timeout)
	}

	for _, tc := range []struct{ unset, set, value, want string }{
		{unset: "CANARY_URL", want: "CANARY_URL"},
		{unset: "HOOKLINE_STACK", want: "HOOKLINE_STACK"},
		{unset: "CANARY_SECRET_ARN", want: "CANARY_SECRET"},
		{set: "CANARY_TIMEOUT", value: "soon", want: "CANARY_TIMEOUT"},
		{set: "CANARY_TIMEOUT", value: "-1s", want: "CANARY_TIMEOUT"},
	} {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		delete(m, tc.unset)
		if tc.set != "" {
			m[tc.set] = tc.value
		}
		if _, err := configFromEnv(env(m), read); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("unset %q set %q=%q: err %v; want one naming %s", tc.unset, tc.set, tc.value, err, tc.want)
		}
	}
}
