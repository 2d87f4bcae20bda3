package bootstrap_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker/bootstrap"
)

// clusterCtl stands in for rabbitmqctl and rabbitmq-queues on one node of a
// three-node cluster: this node's name, the running nodes and the queues
// come from files the test writes; queues appear after the first listing,
// as when the first node imports while this one waits.
const clusterCtl = recorder + `
state="$HOOKLINE_STUB_STATE"
case "$(basename "$0") $1" in
"rabbitmqctl eval") printf "'%s'\n" "$(cat "$state/self")" ;;
"rabbitmqctl cluster_status") cat "$state/cluster_status.json" ;;
"rabbitmqctl list_queues")
	n=$(( $(cat "$state/listings" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$state/listings"
	((n > 1)) && cat "$state/queues" ;;
"rabbitmqctl import_definitions") cat >"$state/imported.json" ;;
"rabbitmqctl list_users") printf 'guest\t[administrator]\n' ;;
"rabbitmqctl delete_user") ;;
"rabbitmq-queues grow") ;;
*) echo "cluster stub: unexpected $(basename "$0") $*" >&2; exit 64 ;;
esac
`

func clusterNode(t *testing.T, self string, running []string) (*stubs, string) {
	t.Helper()
	s := newStubs(t)
	state := filepath.Join(filepath.Dir(s.dir), "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"self":                self,
		"cluster_status.json": `{"running_nodes":["` + strings.Join(running, `","`) + `"]}`,
		"queues":              "webhooks.dead\nwebhooks.inbound\n",
	} {
		if err := os.WriteFile(filepath.Join(state, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"rabbitmqctl", "rabbitmq-queues"} {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(clusterCtl), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOOKLINE_STUB_STATE", state)
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:hookline-prod-rabbitmq-admin-AbCdEf"
	s.secret(t, arn, map[string]any{"username": "hookline-admin", "password": "placeholderPlaceholder0123456789"})
	script, err := bootstrap.RenderConfigure(bootstrap.Configure{
		Region: "us-east-1", Stack: "prod", Vhost: "hookline", Nodes: 3,
		Users:       []bootstrap.User{{Name: "hookline-admin", Tags: []string{"administrator"}, SecretArn: arn}},
		Definitions: []byte(`{"vhosts":[{"name":"hookline"}],"queues":[{"name":"webhooks.inbound","vhost":"hookline"},{"name":"webhooks.dead","vhost":"hookline"}]}`),
		DeleteGuest: true, WaitSeconds: 3, PollSeconds: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, script
}

func count(calls []string, prefix string) int {
	n := 0
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// Item 8: in a three-node cluster only the first running node (by name)
// creates users, vhost and policies; the others wait until its topology
// exists; every node, once all have joined, adds itself to every quorum
// queue of the vhost (queues declared before it joined are grown).
func TestClusterFirstBootOrdering(t *testing.T) {
	nodes := []string{"rabbit@ip-10-0-0-1.ec2.internal", "rabbit@ip-10-0-1-1.ec2.internal", "rabbit@ip-10-0-2-1.ec2.internal"}
	for _, tc := range []struct {
		name    string
		self    string
		running []string
		applies bool
		fails   bool
	}{
		{"first node applies", nodes[0], nodes, true, false},
		{"second node waits", nodes[1], []string{nodes[2], nodes[1], nodes[0]}, false, false},
		{"third node waits", nodes[2], nodes, false, false},
		{"peers missing: nobody applies", nodes[0], nodes[:2], false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, script := clusterNode(t, tc.self, tc.running)
			out, err := s.run(t, script)
			if (err != nil) != tc.fails {
				t.Fatalf("configure.sh error %v; want failure %v\n%s", err, tc.fails, out)
			}
			calls := s.calls(t)
			imports := count(calls, "rabbitmqctl import_definitions")
			if tc.applies != (imports == 1) || imports > 1 {
				t.Errorf("%d imports; want applying=%v\n%s", imports, tc.applies, strings.Join(calls, "\n"))
			}
			if deletes := count(calls, "rabbitmqctl delete_user guest"); deletes != imports {
				t.Errorf("guest deleted %d times; want only by the node that applies", deletes)
			}
			grow := count(calls, "rabbitmq-queues grow "+tc.self+" all --vhost-pattern \\^hookline\\$")
			if tc.fails != (grow == 0) {
				t.Errorf("grow on this node %d times; want once after the cluster formed, never before\n%s", grow, strings.Join(calls, "\n"))
			}
			if !tc.applies && !tc.fails && count(calls, "rabbitmqctl list_queues") < 2 {
				t.Errorf("a waiting node grew before the topology existed:\n%s", strings.Join(calls, "\n"))
			}
			if !tc.fails {
				for i, c := range calls {
					if strings.HasPrefix(c, "rabbitmq-queues grow") && i < len(calls)-1 {
						t.Errorf("grow is not the last step: %v", calls[i:])
					}
				}
			}
		})
	}
}
