package bootstrap_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker/bootstrap"
)

func arn(name string) string {
	return "arn:aws:secretsmanager:us-east-1:123456789012:secret:hookline-prod-rabbitmq-" + name + "-AbCdEf"
}

func install(nodes, index int) bootstrap.Install {
	in := bootstrap.Install{
		Region: "us-east-1", Stack: "prod", Node: "hookline-prod-rabbitmq-1", NodeIndex: index, Nodes: nodes,
		ClusterTag: "hookline-prod-rabbitmq", DataVolumeID: "vol-0123456789abcdef0",
		Image: bootstrap.DefaultImage, RabbitMQVersion: must(bootstrap.ImageVersion(bootstrap.DefaultImage)),
		ErlangSeries: bootstrap.ErlangSeries, DockerPackage: bootstrap.DockerPackage,
		Endpoint:          "rabbitmq.hookline-prod.internal",
		ConfigureDocument: "hookline-prod-rabbitmq-configure-0a1b2c3",
		StatusParameter:   "/hookline/prod/broker/hookline-prod-rabbitmq-1/status",
		LogGroup:          "/hookline/hookline-prod/broker", MetricsNamespace: "hookline/broker",
		CAKeySecretArn: arn("ca-key"), CACertSecretArn: arn("ca-cert"),
	}
	if nodes > 1 {
		in.CookieSecretArn = arn("erlang-cookie")
	}
	return in
}

func shellcheck(t *testing.T, name, script string) {
	t.Helper()
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		t.Fatal("shellcheck is not installed: run scripts/ensure-shellcheck.sh (make test-infra runs it)")
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "--shell=bash", "--severity=style", path).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %s:\n%s", name, out)
	}
	if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
		t.Errorf("bash -n %s: %s", name, out)
	}
}

// Both halves are shellcheck-clean as rendered, single node and cluster.
func TestScriptsShellcheck(t *testing.T) {
	t.Parallel()
	for _, nodes := range []int{1, 3} {
		script, err := bootstrap.RenderInstall(install(nodes, 0))
		if err != nil {
			t.Fatal(err)
		}
		shellcheck(t, "install.sh", script)
		if strings.Contains(script, "{{") || strings.Contains(script, "<no value>") {
			t.Error("install.sh has unrendered template parts")
		}
		conf, err := bootstrap.RenderConfigure(bootstrap.Configure{
			Region: "us-east-1", Stack: "prod", Vhost: "hookline", Nodes: nodes,
			Users:       []bootstrap.User{{Name: "hookline-admin", Tags: []string{"administrator"}, SecretArn: arn("admin")}, {Name: "hookline-receiver", SecretArn: arn("receiver")}},
			Definitions: []byte(`{"vhosts":[{"name":"hookline"}],"queues":[{"name":"webhooks.inbound","vhost":"hookline"}]}`),
			DeleteGuest: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		shellcheck(t, "configure.sh", conf)
	}
}

// The install half installs nothing unpinned: the only package is the
// container runtime at an exact version, the broker is an image by digest,
// no URL but the instance metadata service, nothing called latest; and the
// compressed user data fits EC2's limit.
func TestInstallIsPinned(t *testing.T) {
	t.Parallel()
	script, err := bootstrap.RenderInstall(install(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(script, "\n") {
		code := strings.TrimSpace(line)
		if strings.HasPrefix(code, "#") {
			continue
		}
		if strings.Contains(code, "dnf ") && !strings.Contains(code, `dnf -y install "$DOCKER_PACKAGE"`) {
			t.Errorf("a dnf call other than the pinned runtime: %s", code)
		}
		if strings.Contains(code, "docker pull") && code != `docker pull "$IMAGE"` {
			t.Errorf("a pull other than the pinned image: %s", code)
		}
		for _, u := range regexp.MustCompile(`https?://[^\s'"]+`).FindAllString(code, -1) {
			if !strings.HasPrefix(u, "http://169.254.169.254/latest/") {
				t.Errorf("URL %s: the install half fetches nothing from the internet but the pinned image", u)
			}
		}
		rest := strings.ReplaceAll(code, "169.254.169.254/latest/", "")
		if regexp.MustCompile(`(?i)\blatest\b`).MatchString(rest) {
			t.Errorf("%q names latest", code)
		}
	}
	for _, want := range []string{
		"readonly IMAGE='" + bootstrap.DefaultImage + "'",
		"readonly DOCKER_PACKAGE='docker-25.0.18'",
		"readonly RABBITMQ_VERSION='4.3.6'",
		"RequiresMountsFor=$DATA_DIR",
		"ExecStartPre=/usr/bin/mountpoint -q $DATA_DIR",
		`echo "UUID=$uuid $DATA_DIR xfs`,
		"listeners.tcp = none",
		"listeners.ssl.default = 5671",
		"management.ssl.port = 15671",
		"prometheus.ssl.port = 15691",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("install.sh lacks %q", want)
		}
	}
	if !regexp.MustCompile(`@sha256:[a-f0-9]{64}'`).MatchString(script) {
		t.Error("the image is not pinned by digest")
	}
	gz, err := bootstrap.UserData(script)
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(r)
	if string(back) != script {
		t.Error("user data does not decompress to the script")
	}
	again, _ := bootstrap.UserData(script)
	if !bytes.Equal(gz, again) {
		t.Error("user data compression is not deterministic: every plan would change the launch template")
	}
	t.Logf("install.sh %d bytes, %d compressed (limit %d)", len(script), len(gz), bootstrap.UserDataLimit)
}

func TestRenderRefusesUnsafeOrUnpinned(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*bootstrap.Install)
	}{
		{"quote", func(in *bootstrap.Install) { in.Region = "us-east-1'; rm -rf / #" }},
		{"newline", func(in *bootstrap.Install) { in.Endpoint = "a\nb" }},
		{"tag without digest", func(in *bootstrap.Install) { in.Image = "docker.io/library/rabbitmq:4.3.6-management" }},
		{"latest", func(in *bootstrap.Install) { in.Image = "docker.io/library/rabbitmq:latest" }},
		{"version differs from the image", func(in *bootstrap.Install) { in.RabbitMQVersion = "4.3.5" }},
		{"cluster without cookie", func(in *bootstrap.Install) { in.CookieSecretArn = "" }},
		{"two nodes", func(in *bootstrap.Install) { in.Nodes = 2 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := install(3, 0)
			tc.edit(&in)
			if _, err := bootstrap.RenderInstall(in); err == nil {
				t.Error("rendered; want a refusal")
			}
		})
	}
	if _, err := bootstrap.RenderConfigure(bootstrap.Configure{Region: "us-east-1", Stack: "prod", Vhost: "a b", Nodes: 1,
		Users: []bootstrap.User{{Name: "x", SecretArn: "y"}}, Definitions: []byte(`{}`)}); err == nil {
		t.Error("configure rendered a vhost with a space")
	}
}
