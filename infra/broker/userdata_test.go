package broker_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker"
	"github.com/hookline/hookline/infra/config"
)

// userData renders the script for a shipped stack's config, as the broker
// component does for node 0 (resource IDs as the deployment would give them).
func userData(t *testing.T, stack string, nodes int) string {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	sf, err := config.ReadStackFile(root, stack)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.SecretKeys {
		sf.Values[k] = "placeholderPlaceholder0123456789"
	}
	c, err := config.Parse("hookline", stack, func(k string) (string, bool) { v, ok := sf.Values[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	arn := func(user string) string {
		return "arn:aws:secretsmanager:" + c.Region + ":123456789012:secret:" + c.Name() + "-rabbitmq-" + user + "-AbCdEf"
	}
	u := broker.UserData{
		Region:             c.Region,
		Stack:              c.Stack,
		Nodes:              nodes,
		ClusterTag:         c.Name() + "-rabbitmq",
		DataVolumeID:       "vol-0123456789abcdef0",
		RabbitMQVersion:    c.Broker.RabbitMQVersion,
		Vhost:              c.Broker.Vhost,
		DeliveryLimit:      c.Broker.DeliveryLimit,
		AdminSecretArn:     arn("admin"),
		ReceiverSecretArn:  arn("receiver"),
		ProcessorSecretArn: arn("processor"),
	}
	if nodes > 1 {
		u.CookieSecretArn = arn("erlang-cookie")
	}
	script, err := broker.RenderUserData(u)
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// The user data is shellcheck-clean and complete for both shipped stacks,
// single node and cluster.
func TestUserDataShellcheck(t *testing.T) {
	shellcheck, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed: run scripts/ensure-shellcheck.sh (make test-infra runs it)")
	}
	for _, tc := range []struct {
		stack string
		nodes int
	}{{"dev", 1}, {"prod", 1}, {"prod", 3}} {
		name := tc.stack
		if tc.nodes > 1 {
			name += "-cluster"
		}
		t.Run(name, func(t *testing.T) {
			script := userData(t, tc.stack, tc.nodes)
			path := filepath.Join(t.TempDir(), "userdata-"+name+".sh")
			if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(shellcheck, "--shell=bash", "--severity=style", path).CombinedOutput(); err != nil {
				t.Errorf("shellcheck %s:\n%s", name, out)
			}
			if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
				t.Errorf("bash -n %s: %s", name, out)
			}
			for _, want := range []string{
				"readonly REGION='us-east-1'",
				"readonly STACK='" + tc.stack + "'",
				"readonly NODES='" + string(rune('0'+tc.nodes)) + "'",
				"readonly DATA_VOLUME_ID='vol-0123456789abcdef0'",
				"rabbitmq-server-${RABBITMQ_VERSION}*",
				"yum1.rabbitmq.com/erlang/el/9",
				"rabbitmq_management rabbitmq_prometheus",
				"add_vhost \"$VHOST\" --default-queue-type quorum",
				"dead-letter-strategy",
				"set_policy",
				"amazon-cloudwatch-agent-ctl",
				"mem_used_percent",
			} {
				if !strings.Contains(script, want) {
					t.Errorf("rendered script lacks %q", want)
				}
			}
			if strings.Contains(script, "{{") || strings.Contains(script, "<no value>") {
				t.Errorf("rendered script has unrendered template parts")
			}
			if strings.Contains(script, "placeholderPlaceholder") {
				t.Errorf("a secret value reached the user data")
			}
			cookie := strings.Contains(script, "-rabbitmq-erlang-cookie-")
			if cookie != (tc.nodes > 1) {
				t.Errorf("Erlang cookie secret in user data: %v; want only for a cluster", cookie)
			}
		})
	}
}

func TestUserDataRefusesUnsafeValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    broker.UserData
	}{
		{"quote", broker.UserData{Region: "us-east-1'; rm -rf / #", Nodes: 1}},
		{"newline", broker.UserData{Region: "us-east-1", Vhost: "a\nb", Nodes: 1}},
		{"cluster without cookie", broker.UserData{Region: "us-east-1", Nodes: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := broker.RenderUserData(tc.u); err == nil {
				t.Error("rendered; want a refusal")
			}
		})
	}
}
