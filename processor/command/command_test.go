package command

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsageErrors(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"bogus"}, nil, `unknown command "bogus"`},
		{[]string{"run"}, nil, "RABBITMQ_URL: required"},
		{[]string{"migrate"}, nil, "MYSQL_DSN: required"},
		{[]string{"dlq"}, map[string]string{"RABBITMQ_URL": "amqp://x"}, "want list or replay"},
		{[]string{"dlq", "replay"}, map[string]string{"RABBITMQ_URL": "amqp://x"}, "exactly one of --all or --id"},
		{[]string{"dlq", "replay", "--all", "--id", "x"}, map[string]string{"RABBITMQ_URL": "amqp://x"}, "exactly one of --all or --id"},
		{[]string{"healthcheck"}, map[string]string{"HTTP_ADDR": "127.0.0.1:1"}, "connection refused"},
	} {
		var out, errb bytes.Buffer
		code := Main(tc.args, env(tc.env), &out, &errb)
		require.Equal(t, 1, code, tc.args)
		require.Contains(t, errb.String(), tc.want, tc.args)
	}
	var out bytes.Buffer
	require.Equal(t, 0, Main([]string{"help"}, env(nil), &out, &out))
	require.Contains(t, out.String(), "dlq replay")
}
