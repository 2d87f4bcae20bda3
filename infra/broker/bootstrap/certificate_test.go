package bootstrap_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker/bootstrap"
)

// function extracts one shell function of a rendered script.
func function(t *testing.T, script, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?ms)^` + name + `\(\) \{\n.*?^\}\n`).FindString(script)
	if m == "" {
		m = regexp.MustCompile(`(?m)^`+name+`\(\) \{ .*; \}$`).FindString(script) + "\n"
	}
	if strings.TrimSpace(m) == "" {
		t.Fatalf("no function %s in the script", name)
	}
	return m
}

// caAWS keeps the two CA secrets as files: list-secret-version-ids counts a
// secret's versions, put-secret-value writes one, get-secret-value reads it.
const caAWS = recorder + `
id=""; value=""
for ((i = 1; i <= $#; i++)); do
	case "${!i}" in
	--secret-id) j=$((i + 1)); id="$(basename "${!j}")" ;;
	--secret-string) j=$((i + 1)); value="${!j}" ;;
	esac
done
f="$HOOKLINE_STUB_SECRETS/$id"
case "$2" in
list-secret-version-ids) [[ -s $f ]] && echo 1 || echo 0 ;;
put-secret-value) cat "${value#file://}" >"$f" ;;
get-secret-value) [[ -s $f ]] || exit 254; cat "$f" ;;
*) exit 2 ;;
esac
`

// issue runs install.sh's issue_certificate for one node against the
// stubbed Secrets Manager and metadata service, as that node's boot would.
func issue(t *testing.T, s *stubs, confDir string, index int) {
	t.Helper()
	in := install(3, index)
	script, err := bootstrap.RenderInstall(in)
	if err != nil {
		t.Fatal(err)
	}
	harness := "set -euo pipefail\n" +
		"REGION=us-east-1 STACK=prod NODE=" + in.Node + " NODE_INDEX=" + string(rune('0'+index)) + " ENDPOINT=" + in.Endpoint + "\n" +
		"CA_KEY_SECRET_ARN=" + in.CAKeySecretArn + " CA_CERT_SECRET_ARN=" + in.CACertSecretArn + " CONF_DIR=" + confDir + " RABBITMQ_UID=999\n" +
		function(t, script, "log") + function(t, script, "imds") + function(t, script, "issue_certificate") + "issue_certificate\n"
	if out, err := s.run(t, harness); err != nil {
		t.Fatalf("issue_certificate on node %d: %v\n%s", index, err, out)
	}
}

// Item 4's certificate path, with the real openssl: node 0 creates the CA
// once (its key only in Secrets Manager), every node's certificate chains to
// it and names the endpoint, the node's private name and address; a second
// node, and a replacement of node 0, reuse the CA instead of making another.
func TestNodeCertificatesChainToOneStackCA(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed")
	}
	s := newStubs(t)
	for name, body := range map[string]string{
		"aws":     caAWS,
		"chown":   recorder + "exit 0\n", // ownership by the image's uid needs root; its modes are checked below
		"install": recorder + `for a in "$@"; do last="$a"; done; mkdir -p "$last"` + "\n",
	} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var cas []string
	for _, node := range []int{0, 1, 0} {
		conf := t.TempDir()
		issue(t, s, conf, node)
		tls := filepath.Join(conf, "tls")
		ca, err := os.ReadFile(filepath.Join(tls, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		cas = append(cas, string(ca))
		if out, err := exec.Command("openssl", "verify", "-CAfile", filepath.Join(tls, "ca.crt"), filepath.Join(tls, "node.crt")).CombinedOutput(); err != nil {
			t.Errorf("node %d certificate does not chain to the CA: %s", node, out)
		}
		der, _ := pem.Decode(must(os.ReadFile(filepath.Join(tls, "node.crt"))))
		cert, err := x509.ParseCertificate(der.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"rabbitmq.hookline-prod.internal", "ip-10-0-0-1.ec2.internal"} {
			if err := cert.VerifyHostname(name); err != nil {
				t.Errorf("node %d certificate: %v", node, err)
			}
		}
		if err := cert.VerifyHostname("10.0.0.1"); err != nil {
			t.Errorf("node %d certificate does not name its address: %v", node, err)
		}
		entries, _ := os.ReadDir(tls)
		for _, e := range entries {
			if strings.Contains(e.Name(), "ca.key") {
				t.Errorf("the CA key stayed on the node: %s", e.Name())
			}
			if info, _ := e.Info(); info.Mode().Perm() != 0o440 {
				t.Errorf("%s mode %v; want 0440 (root and the broker's group)", e.Name(), info.Mode().Perm())
			}
		}
	}
	if cas[0] != cas[1] || cas[0] != cas[2] {
		t.Error("a node other than the first boot of node 0 made a new CA")
	}
	key := must(os.ReadFile(filepath.Join(s.secrets, filepath.Base(arn("ca-key")))))
	if !strings.Contains(string(key), "PRIVATE KEY") {
		t.Error("the CA key is not in its secret")
	}
	if n := strings.Count(strings.Join(s.calls(t), "\n"), "put-secret-value"); n != 2 {
		t.Errorf("%d secret writes; want the CA key and certificate once", n)
	}
}
