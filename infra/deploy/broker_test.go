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

// The broker fakes: pulumi knows the nodes, their instance IDs (state/ids,
// one per line) and replaces one on `up --replace`; aws answers ready
// markers from state/marker-<node> (a marker-<node>.next replaces it after
// one read, as a booting node becomes ready), and Run Command succeeds on
// every instance it is sent to unless FAKE_COMMAND_STATUS says otherwise.
const brokerPulumi = `#!/usr/bin/env bash
set -euo pipefail
s="$FAKE_STATE"
echo "pulumi $*" >>"$s/calls.log"
case "$1 ${2:-}" in
"config get") echo us-east-1 ;;
"stack output")
	case "$3" in
	brokerNodeNames) python3 -c 'import json, sys; print(json.dumps(["hookline-t-rabbitmq-%d" % i for i in range(int(sys.argv[1]))]))' "$FAKE_NODES" ;;
	brokerStatusParameterNames) python3 -c 'import json, sys; print(json.dumps(["/hookline/t/broker/hookline-t-rabbitmq-%d/status" % i for i in range(int(sys.argv[1]))]))' "$FAKE_NODES" ;;
	brokerInstanceIds) python3 -c 'import json, sys; print(json.dumps(open(sys.argv[1]).read().split()))' "$s/ids" ;;
	brokerConfigureDocumentName) echo hookline-t-rabbitmq-configure-abc ;;
	*) exit 255 ;;
	esac ;;
"stack export")
	python3 -c 'import json, sys
print(json.dumps({"deployment": {"resources": [{"type": "aws:ec2/instance:Instance", "urn": "urn:pulumi:t::hookline::hookline:broker:RabbitMQ$aws:ec2/instance:Instance::hookline-t-rabbitmq-%d" % i} for i in range(int(sys.argv[1]))]}}))' "$FAKE_NODES" ;;
"up --stack")
	urn="$(sed -n 's/.*--replace \([^ ]*\).*/\1/p' <<<"$*")"
	i="${urn##*-}"
	new="i-new$i"
	awk -v n="$((i + 1))" -v id="$new" 'NR == n { print id; next } { print }' "$s/ids" >"$s/ids.new" && mv "$s/ids.new" "$s/ids"
	echo "{\"status\":\"booting\"}" >"$s/marker-hookline-t-rabbitmq-$i"
	echo "{\"status\":\"ready\",\"instance\":\"$new\"}" >"$s/marker-hookline-t-rabbitmq-$i.next" ;;
*) echo "fake pulumi: unexpected $*" >&2; exit 2 ;;
esac
`

const brokerAWS = `#!/usr/bin/env bash
set -euo pipefail
s="$FAKE_STATE"
echo "aws $*" >>"$s/calls.log"
case "$1 $2" in
"ssm get-parameter")
	name="$(sed -n 's/.*--name \([^ ]*\).*/\1/p' <<<"$*")"
	node="$(basename "$(dirname "$name")")"
	f="$s/marker-$node"
	[[ -f $f ]] || exit 254
	cat "$f"
	[[ -f $f.next ]] && mv "$f.next" "$f"
	exit 0 ;;
"ssm send-command")
	n=0; on=0
	for a in "$@"; do
		[[ $a == --* ]] && on=0
		((on)) && n=$((n + 1))
		[[ $a == --instance-ids ]] && on=1
	done
	echo "$n" >"$s/sent"
	echo cmd-1 ;;
"ssm list-command-invocations")
	for _ in $(seq 1 "$(cat "$s/sent")"); do printf '%s\t' "${FAKE_COMMAND_STATUS:-Success}"; done; echo ;;
*) echo "fake aws: unexpected $*" >&2; exit 2 ;;
esac
`

func runBroker(t *testing.T, nodes int, markers map[int]string, env []string, args ...string) ([]string, error) {
	t.Helper()
	root, err := config.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("pulumi", brokerPulumi, 0o755)
	write("aws", brokerAWS, 0o755)
	var ids []string
	for i := 0; i < nodes; i++ {
		ids = append(ids, "i-old"+string(rune('0'+i)))
		if m, ok := markers[i]; ok {
			for j, v := range strings.SplitN(m, "|", 2) {
				suffix := []string{"", ".next"}[j]
				write("state/marker-hookline-t-rabbitmq-"+string(rune('0'+i))+suffix, v, 0o644)
			}
		}
	}
	write("state/ids", strings.Join(ids, "\n")+"\n", 0o644)
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "broker.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "PULUMI="+filepath.Join(dir, "pulumi"), "AWS="+filepath.Join(dir, "aws"),
		"FAKE_STATE="+state, "FAKE_NODES="+string(rune('0'+nodes)), "BROKER_POLL_SECONDS=0", "BROKER_WAIT_SECONDS=20")
	cmd.Env = append(cmd.Env, env...)
	out, runErr := cmd.CombinedOutput()
	log, _ := os.ReadFile(filepath.Join(state, "calls.log"))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker.sh output:\n%s\ncalls:\n%s", out, log)
		}
	})
	var calls []string
	for _, c := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		switch {
		case strings.HasPrefix(c, "aws ssm send-command"):
			doc := strings.Fields(c)[6]
			ids := c[strings.Index(c, "--instance-ids ")+len("--instance-ids ") : strings.Index(c, " --comment")]
			calls = append(calls, "run "+doc+" "+ids)
			if strings.Contains(c, "quorum_critical") {
				calls[len(calls)-1] = "quorum " + ids
			}
		case strings.HasPrefix(c, "pulumi up"):
			if m := replaced.FindStringSubmatch(c); m != nil {
				calls = append(calls, "replace "+m[1])
			}
		case strings.HasPrefix(c, "aws ssm get-parameter"):
			calls = append(calls, "marker")
		}
	}
	return calls, runErr
}

var replaced = regexp.MustCompile(`--replace \S*::(\S+) --target `)

func squeeze(calls []string) string {
	var out []string
	for _, c := range calls {
		if c == "marker" && len(out) > 0 && out[len(out)-1] == "marker" {
			continue
		}
		out = append(out, c)
	}
	return strings.Join(out, " | ")
}

func TestBrokerWait(t *testing.T) {
	ready := `{"status":"ready","instance":"i"}`
	t.Run("waits for a booting node, then checks every instance", func(t *testing.T) {
		calls, err := runBroker(t, 3, map[int]string{0: ready, 1: `{"status":"booting"}|` + ready, 2: ready}, nil, "wait", "t")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := squeeze(calls), "marker | run AWS-RunShellScript i-old0 i-old1 i-old2"; got != want {
			t.Errorf("calls %s; want %s", got, want)
		}
		n := 0
		for _, c := range calls {
			if c == "marker" {
				n++
			}
		}
		if n != 4 {
			t.Errorf("%d marker reads; want 4 (node 1 read twice)", n)
		}
	})
	t.Run("a failed node stops the deploy", func(t *testing.T) {
		calls, err := runBroker(t, 1, map[int]string{0: `{"status":"failed","step":"runtime"}`}, nil, "wait", "t")
		if err == nil {
			t.Error("wait succeeded on a failed node")
		}
		if strings.Contains(squeeze(calls), "run ") {
			t.Errorf("ran commands on a failed node: %v", calls)
		}
	})
	t.Run("a failed check stops the deploy", func(t *testing.T) {
		if _, err := runBroker(t, 1, map[int]string{0: ready}, []string{"FAKE_COMMAND_STATUS=Failed"}, "wait", "t"); err == nil {
			t.Error("wait succeeded when check_running failed")
		}
	})
}

func TestBrokerReconcileRunsTheDocumentEverywhere(t *testing.T) {
	calls, err := runBroker(t, 3, nil, nil, "reconcile", "t")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := squeeze(calls), "run hookline-t-rabbitmq-configure-abc i-old0 i-old1 i-old2"; got != want {
		t.Errorf("calls %s; want %s", got, want)
	}
}

// make broker-roll: one node at a time, each replaced only when no quorum
// queue depends on it, and the next only once it is ready on its new
// instance and every node's queues have their members back.
func TestBrokerRollOneNodeAtATime(t *testing.T) {
	ready := `{"status":"ready","instance":"x"}`
	calls, err := runBroker(t, 3, map[int]string{0: ready, 1: ready, 2: ready}, nil, "roll", "t")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"marker", "run AWS-RunShellScript i-old0 i-old1 i-old2",
		"quorum i-old0", "replace hookline-t-rabbitmq-0", "marker", "quorum i-new0 i-old1 i-old2", "run AWS-RunShellScript i-new0",
		"quorum i-old1", "replace hookline-t-rabbitmq-1", "marker", "quorum i-new0 i-new1 i-old2", "run AWS-RunShellScript i-new1",
		"quorum i-old2", "replace hookline-t-rabbitmq-2", "marker", "quorum i-new0 i-new1 i-new2", "run AWS-RunShellScript i-new2",
	}
	if got := squeeze(calls); got != strings.Join(want, " | ") {
		t.Errorf("roll\n  %s\nwant\n  %s", got, strings.Join(want, " | "))
	}
}
