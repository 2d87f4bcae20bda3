package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
)

// The fakes share a state directory: pulumi keeps its config and whether
// the stack exists there, aws answers from environment knobs, and every
// call is appended to calls.log with the digests recorded at that moment.
const fakePulumi = `#!/usr/bin/env bash
set -euo pipefail
s="$FAKE_STATE"
get() { grep -m1 "^$1=" "$s/config" 2>/dev/null | cut -d= -f2- || true; }
echo "pulumi $* [processor=$(get hookline:processorImageDigest) migration=$(get hookline:migrationImageDigest)]" >>"$s/calls.log"
case "$1 ${2:-}" in
"stack select") exit 0 ;;
"stack output")
	[[ -f "$s/deployed" ]] || { echo "error: no outputs" >&2; exit 255; }
	case "$3" in
	registryRepositoryUrl) echo "123456789012.dkr.ecr.us-east-1.amazonaws.com/hookline-t/processor" ;;
	processorClusterName) echo "hookline-t-processor-1a2b" ;;
	processorMigrationTaskDefinitionArn) [[ -n "$(get hookline:migrationImageDigest)" ]] && echo "arn:aws:ecs:us-east-1:123456789012:task-definition/hookline-t-processor-migrate:7" ;;
	processorMigrationContainerName) echo migrate ;;
	networkComputeSubnetIds) printf '[\n  "subnet-a",\n  "subnet-b"\n]\n' ;;
	securityProcessorGroupId) echo sg-processor ;;
	processorLogGroupName) echo /hookline/hookline-t/processor ;;
	processorServiceName) echo hookline-t-processor ;;
	*) exit 255 ;;
	esac ;;
"config get")
	v="$(get "$3")"
	[[ "$3" == aws:region ]] && v=us-east-1
	[[ -n "$v" ]] || exit 255
	echo "$v" ;;
"config set")
	{ grep -v "^$3=" "$s/config" 2>/dev/null || true; echo "$3=$4"; } >"$s/config.new"
	mv "$s/config.new" "$s/config" ;;
"up --stack") touch "$s/deployed" ;;
*) echo "fake pulumi: unexpected $*" >&2; exit 2 ;;
esac
`

const fakeAWS = `#!/usr/bin/env bash
set -euo pipefail
echo "aws $*" >>"$FAKE_STATE/calls.log"
case "$1 $2" in
"ecr describe-images")
	[[ -n "${FAKE_PUSHED:-}" ]] || { echo "ImageNotFoundException" >&2; exit 254; }
	echo "$FAKE_PUSHED" ;;
"ecr get-login-password") echo token ;;
"ecs run-task") echo "arn:aws:ecs:us-east-1:123456789012:task/hookline-t/0123" ;;
"ecs wait") exit 0 ;;
"ecs describe-tasks")
	case "$*" in
	*exitCode*) echo "${FAKE_MIGRATION_EXIT:-0}" ;;
	*) echo "Essential container in task exited" ;;
	esac ;;
*) echo "fake aws: unexpected $*" >&2; exit 2 ;;
esac
`

// fake broker.sh: its own tests (broker_test.go) cover what it does.
const fakeBroker = `#!/usr/bin/env bash
echo "broker $*" >>"$FAKE_STATE/calls.log"
`

const fakeMake = `#!/usr/bin/env bash
echo "make $*" >>"$FAKE_STATE/calls.log"
`

// fake curl: writes a PEM to -o.
const fakeCurl = `#!/usr/bin/env bash
echo "curl $*" >>"$FAKE_STATE/calls.log"
while [[ $# -gt 0 ]]; do
	if [[ "$1" == -o ]]; then printf -- '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' >"$2"; fi
	shift
done
`

// fake go: ko login reads the password from stdin; ko build writes the
// pushed reference to --image-refs.
const fakeGo = `#!/usr/bin/env bash
set -euo pipefail
echo "go $* [KO_DOCKER_REPO=${KO_DOCKER_REPO:-} KO_DEFAULTBASEIMAGE=${KO_DEFAULTBASEIMAGE:-}]" >>"$FAKE_STATE/calls.log"
case "$*" in
*" login "*) [[ "$(cat)" == token ]] || { echo "no password on stdin" >&2; exit 1; } ;;
*" build "*)
	for a in "$@"; do
		case "$a" in --image-refs=*) echo "$KO_DOCKER_REPO@$FAKE_BUILT" >"${a#--image-refs=}" ;; esac
	done ;;
*) echo "fake go: unexpected $*" >&2; exit 2 ;;
esac
`

var (
	digestA = "sha256:" + strings.Repeat("a", 64)
	digestB = "sha256:" + strings.Repeat("b", 64)
)

// run runs scripts/deploy.sh for stack "t" against the fakes and returns
// its error and the calls, reduced to the steps that matter for ordering.
func run(t *testing.T, state map[string]string, env ...string) ([]string, string, error) {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	stateDir := filepath.Join(dir, "state")
	for _, d := range []string{bin, stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"pulumi": fakePulumi, "aws": fakeAWS, "make": fakeMake, "go": fakeGo, "curl": fakeCurl, "broker": fakeBroker} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var cfg []string
	for k, v := range state {
		if k == "deployed" {
			if err := os.WriteFile(filepath.Join(stateDir, "deployed"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		cfg = append(cfg, k+"="+v)
	}
	if err := os.WriteFile(filepath.Join(stateDir, "config"), []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "deploy.sh"), "t")
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"PATH="+bin+":"+os.Getenv("PATH"),
		"PULUMI="+filepath.Join(bin, "pulumi"), "AWS="+filepath.Join(bin, "aws"),
		"MAKE="+filepath.Join(bin, "make"), "GO="+filepath.Join(bin, "go"), "CURL="+filepath.Join(bin, "curl"),
		"BROKER="+filepath.Join(bin, "broker"),
		"HOOKLINE_KODATA="+filepath.Join(dir, "kodata"),
		"FAKE_STATE="+stateDir, "HOOKLINE_BUILD_DIR="+filepath.Join(dir, "build"),
	)
	cmd.Env = append(cmd.Env, env...)
	out, runErr := cmd.CombinedOutput()
	log, err := os.ReadFile(filepath.Join(stateDir, "calls.log"))
	if err != nil {
		t.Fatalf("no calls recorded: %v\n%s", err, out)
	}
	calls := strings.Split(strings.TrimSpace(string(log)), "\n")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("deploy.sh output:\n%s\ncalls:\n%s", out, log)
		}
	})
	return steps(t, calls), string(log), runErr
}

var short = strings.NewReplacer(digestA, "A", digestB, "B")

// steps keeps the calls that order a deploy, named briefly.
func steps(t *testing.T, calls []string) []string {
	var out []string
	digests := regexp.MustCompile(`\[processor=(\S*) migration=(\S*)\]`)
	for _, c := range calls {
		d := digests.FindStringSubmatch(c)
		switch {
		case strings.HasPrefix(c, "make build"):
			out = append(out, "build")
		case strings.HasPrefix(c, "pulumi up"):
			out = append(out, short.Replace("up(p="+d[1]+",m="+d[2]+")"))
		case strings.HasPrefix(c, "pulumi config set"):
			f := strings.Fields(c)
			out = append(out, short.Replace("set "+strings.TrimPrefix(f[3], "hookline:")+"="+f[4]))
		case strings.HasPrefix(c, "go run github.com/google/ko@") && strings.Contains(c, " build "):
			out = append(out, "ko build")
		case strings.HasPrefix(c, "aws ecs run-task"):
			out = append(out, "migrate")
		case strings.HasPrefix(c, "broker "):
			out = append(out, strings.Fields(c)[1])
		}
	}
	return out
}

func TestDeployOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state map[string]string // pulumi config, "deployed" when the stack has outputs
		env   []string
		fails bool
		want  []string
	}{
		{
			name:  "empty account: repository, image, migration, service",
			state: map[string]string{},
			env:   []string{"FAKE_BUILT=" + digestA},
			want:  []string{"build", "up(p=,m=)", "ko build", "set migrationImageDigest=A", "up(p=,m=A)", "wait", "reconcile", "migrate", "set processorImageDigest=A", "up(p=A,m=A)"},
		},
		{
			name:  "second run with nothing changed: no build, no migration, one no-op up, the broker checked and reconciled",
			state: map[string]string{"deployed": "", "hookline:processorImageDigest": digestA, "hookline:migrationImageDigest": digestA},
			env:   []string{"FAKE_PUSHED=" + digestA},
			want:  []string{"build", "up(p=A,m=A)", "wait", "reconcile"},
		},
		{
			name:  "new image on a running stack: migrate before the service moves",
			state: map[string]string{"deployed": "", "hookline:processorImageDigest": digestA, "hookline:migrationImageDigest": digestA},
			env:   []string{"FAKE_BUILT=" + digestB},
			want:  []string{"build", "ko build", "set migrationImageDigest=B", "up(p=A,m=B)", "wait", "reconcile", "migrate", "set processorImageDigest=B", "up(p=B,m=B)"},
		},
		{
			name:  "failed migration: the service keeps its image",
			state: map[string]string{"deployed": "", "hookline:processorImageDigest": digestA, "hookline:migrationImageDigest": digestA},
			env:   []string{"FAKE_BUILT=" + digestB, "FAKE_MIGRATION_EXIT=1"},
			fails: true,
			want:  []string{"build", "ko build", "set migrationImageDigest=B", "up(p=A,m=B)", "wait", "reconcile", "migrate"},
		},
		{
			name:  "image pushed before but not deployed (an earlier failed migration, fixed by a new push elsewhere): migrate again",
			state: map[string]string{"deployed": "", "hookline:processorImageDigest": digestA, "hookline:migrationImageDigest": digestB},
			env:   []string{"FAKE_PUSHED=" + digestB},
			want:  []string{"build", "set migrationImageDigest=B", "up(p=A,m=B)", "wait", "reconcile", "migrate", "set processorImageDigest=B", "up(p=B,m=B)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := run(t, tc.state, tc.env...)
			if (err != nil) != tc.fails {
				t.Errorf("deploy.sh error %v; want failure: %v", err, tc.fails)
			}
			if strings.Join(got, " | ") != strings.Join(tc.want, " | ") {
				t.Errorf("steps\n  %s\nwant\n  %s", strings.Join(got, " | "), strings.Join(tc.want, " | "))
			}
		})
	}
}

// The image step: ko run at a pinned version through `go run` (nothing
// preinstalled), arm64, the distroless nonroot base, an SBOM, the stack's
// repository, a content tag, the login from ECR's token on stdin; and the
// migration task in the compute subnets with the processor's group, no
// public IP, its exit code read from the migrate container.
func TestDeployCommands(t *testing.T) {
	_, log, err := run(t, map[string]string{}, "FAKE_BUILT="+digestA)
	if err != nil {
		t.Fatal(err)
	}
	var ko, login, runTask, exitCode, curl string
	for _, c := range strings.Split(log, "\n") {
		switch {
		case strings.HasPrefix(c, "curl "):
			if ko != "" {
				t.Errorf("the RDS CA bundle was fetched after ko build")
			}
			curl = c
		case strings.HasPrefix(c, "go run") && strings.Contains(c, " build "):
			ko = c
		case strings.HasPrefix(c, "go run") && strings.Contains(c, " login "):
			login = c
		case strings.HasPrefix(c, "aws ecs run-task"):
			runTask = c
		case strings.HasPrefix(c, "aws ecs describe-tasks") && strings.Contains(c, "exitCode"):
			exitCode = c
		}
	}
	for _, want := range []string{
		"go run github.com/google/ko@v", " build ./processor ", "--bare", "--platform=linux/arm64", "--sbom=spdx", "--tags=src-",
		"KO_DOCKER_REPO=123456789012.dkr.ecr.us-east-1.amazonaws.com/hookline-t/processor ",
		"KO_DEFAULTBASEIMAGE=gcr.io/distroless/static-debian12:nonroot",
	} {
		if !strings.Contains(ko, want) {
			t.Errorf("ko build %q lacks %q", ko, want)
		}
	}
	if !regexp.MustCompile(`ko@v\d+\.\d+\.\d+ `).MatchString(ko) {
		t.Errorf("ko is not pinned to an exact version: %q", ko)
	}
	for _, want := range []string{"-fsSL", "--proto =https", "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem", "/kodata/rds-ca-bundle.pem"} {
		if !strings.Contains(curl, want) {
			t.Errorf("RDS CA bundle fetch %q lacks %q", curl, want)
		}
	}
	if !strings.Contains(login, "login 123456789012.dkr.ecr.us-east-1.amazonaws.com --username AWS --password-stdin") {
		t.Errorf("ko login %q", login)
	}
	for _, want := range []string{
		"--cluster hookline-t-processor-1a2b", "--task-definition arn:aws:ecs:us-east-1:123456789012:task-definition/hookline-t-processor-migrate:7",
		"--launch-type FARGATE", `"subnets":["subnet-a","subnet-b"]`, `"securityGroups":["sg-processor"]`, `"assignPublicIp":"DISABLED"`,
	} {
		if !strings.Contains(runTask, want) {
			t.Errorf("run-task %q lacks %q", runTask, want)
		}
	}
	if !strings.Contains(exitCode, "name=='migrate'") {
		t.Errorf("exit code read with %q; want the migrate container's", exitCode)
	}
}

func TestScriptsShellcheck(t *testing.T) {
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Fatal("shellcheck missing: make test-infra installs it (scripts/ensure-shellcheck.sh)")
	}
	out, err := exec.Command("shellcheck", filepath.Join(root, "scripts", "deploy.sh"), filepath.Join(root, "scripts", "image.sh"), filepath.Join(root, "scripts", "broker.sh"), filepath.Join(root, "scripts", "topology.sh")).CombinedOutput()
	if err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}
