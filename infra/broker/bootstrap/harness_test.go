package bootstrap_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/testenv"
)

// stubs is a directory of recording stand-ins for what a node has and a
// test machine must not touch: aws (Secrets Manager answered from files,
// everything else recorded), dnf, systemctl and curl to the metadata
// service. rabbitmqctl and rabbitmq-queues are recorded and then run for
// real against the local broker. Every call is appended to calls.log.
type stubs struct {
	dir     string // prepended to PATH
	secrets string // one file per secret ARN
	log     string
}

// recorder starts every stub: it logs its name and arguments, one call per line.
const recorder = `#!/bin/bash
printf '%s' "$(basename "$0")" >>"$HOOKLINE_STUB_LOG"
printf ' %q' "$@" >>"$HOOKLINE_STUB_LOG"
printf '\n' >>"$HOOKLINE_STUB_LOG"
`

var stubScripts = map[string]string{
	// aws secretsmanager get-secret-value --secret-id ARN --query SecretString --output text
	"aws": recorder + `
if [[ $1 == secretsmanager && $2 == get-secret-value ]]; then
	while (($#)); do
		if [[ $1 == --secret-id ]]; then
			f="$HOOKLINE_STUB_SECRETS/$(printf '%s' "$2" | tr ':/' '__')"
			[[ -f $f ]] || { echo "stub aws: no secret $2" >&2; exit 254; }
			cat "$f"; echo
			exit 0
		fi
		shift
	done
	echo "stub aws: get-secret-value without --secret-id" >&2
	exit 252
fi
exit 0
`,
	"dnf":       recorder + "exit 0\n",
	"systemctl": recorder + "exit 0\n",
	"curl": recorder + `
for a in "$@"; do
	case "$a" in
	*169.254.169.254/latest/api/token) echo stub-imds-token; exit 0 ;;
	*169.254.169.254/latest/meta-data/instance-id) echo i-0123456789abcdef0; exit 0 ;;
	*169.254.169.254/latest/meta-data/local-hostname) echo ip-10-0-0-1.ec2.internal; exit 0 ;;
	*169.254.169.254/latest/meta-data/local-ipv4) echo 10.0.0.1; exit 0 ;;
	*169.254.169.254*) echo "stub curl: unknown metadata path $a" >&2; exit 22 ;;
	esac
done
echo "stub curl: only the metadata service is stubbed" >&2
exit 7
`,
}

// passthrough records a call and runs the real command.
func passthrough(real string) string {
	return recorder + "exec " + real + ` "$@"` + "\n"
}

func newStubs(t *testing.T) *stubs {
	t.Helper()
	s := &stubs{dir: filepath.Join(t.TempDir(), "bin"), secrets: filepath.Join(t.TempDir(), "secrets")}
	s.log = filepath.Join(filepath.Dir(s.dir), "calls.log")
	for _, d := range []string{s.dir, s.secrets} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range stubScripts {
		write(name, body)
	}
	for _, name := range []string{"rabbitmqctl", "rabbitmq-queues"} {
		real, err := exec.LookPath(name)
		if err != nil {
			t.Fatalf("%s is not installed: the configuration tests run against the local RabbitMQ (make services)", name)
		}
		write(name, passthrough(real))
	}
	return s
}

// secret stores the JSON secret a node would read from Secrets Manager.
func (s *stubs) secret(t *testing.T, arn string, value map[string]any) {
	t.Helper()
	b, err := json.Marshal(value)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.NewReplacer(":", "_", "/", "_").Replace(arn)
	if err := os.WriteFile(filepath.Join(s.secrets, name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// run runs a rendered script with the stubs first on PATH.
func (s *stubs) run(t *testing.T, script string) (string, error) {
	t.Helper()
	path := filepath.Join(filepath.Dir(s.dir), "script.sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", path)
	cmd.Env = append(os.Environ(),
		"PATH="+s.dir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOOKLINE_STUB_LOG="+s.log,
		"HOOKLINE_STUB_SECRETS="+s.secrets,
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// calls are the recorded calls, one "name arg…" line each.
func (s *stubs) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// mgmtGet reads a management API path as guest into v; it returns the status.
func mgmtGet(t *testing.T, path string, v any) int {
	t.Helper()
	u, err := url.Parse(testenv.RabbitMQMgmt())
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(u.String(), "/")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func mgmtDelete(t *testing.T, path string) {
	u, _ := url.Parse(testenv.RabbitMQMgmt())
	req, _ := http.NewRequest(http.MethodDelete, strings.TrimRight(u.String(), "/")+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("cleanup DELETE %s: %v", path, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotFound {
		t.Errorf("cleanup DELETE %s: %s", path, resp.Status)
	}
}

// cleanupBroker deletes what a configuration run created on the shared
// broker: the vhost and the users (created or not).
func cleanupBroker(t *testing.T, vhost string, users ...string) {
	t.Cleanup(func() {
		mgmtDelete(t, "/api/vhosts/"+url.PathEscape(vhost))
		for _, u := range users {
			mgmtDelete(t, "/api/users/"+url.PathEscape(u))
		}
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
