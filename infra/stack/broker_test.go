package stack_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/broker"
	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/infra/plan"
	"github.com/hookline/hookline/internal/topology"
)

// userDataScript decodes a launch template's user data (base64 of gzip).
func userDataScript(t *testing.T, lt plan.Resource) string {
	t.Helper()
	gz, err := base64.StdEncoding.DecodeString(lt.Str("userData"))
	if err != nil {
		t.Fatalf("%s user data: %v", lt.Name, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("%s user data is not gzip: %v", lt.Name, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Each node's user data is the install half for that node: its own data
// volume, the pinned image and runtime, its ready marker, and the stack's
// configuration document; nothing from RabbitMQ's x86-64-only yum mirrors.
func TestBrokerUserDataIsThePinnedInstall(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		docs := r.OfType("aws:ssm/document:Document")
		if len(docs) != 1 {
			t.Fatalf("%d SSM documents; want the broker's one configuration document", len(docs))
		}
		lts := r.OfType("aws:ec2/launchTemplate:LaunchTemplate")
		if len(lts) != nodes[v.name] {
			t.Fatalf("%d launch templates; want one per node (%d)", len(lts), nodes[v.name])
		}
		for _, lt := range lts {
			script := userDataScript(t, lt)
			for _, want := range []string{
				"readonly NODE='" + lt.Name + "'",
				"readonly DATA_VOLUME_ID='volume-" + lt.Name + "-data'",
				"readonly IMAGE='" + bootstrap.DefaultImage + "'",
				"readonly RABBITMQ_VERSION='4.3.6'",
				"readonly DOCKER_PACKAGE='" + bootstrap.DockerPackage + "'",
				"readonly CONFIGURE_DOCUMENT='" + docs[0].Name + "'",
				"readonly STATUS_PARAMETER='/hookline/" + v.stack + "/broker/" + lt.Name + "/status'",
			} {
				if !strings.Contains(script, want) {
					t.Errorf("%s user data lacks %q", lt.Name, want)
				}
			}
			if strings.Contains(script, "yum1.rabbitmq.com") || strings.Contains(script, "yum2.rabbitmq.com") {
				t.Errorf("%s user data still installs from RabbitMQ's yum mirrors (x86-64 only)", lt.Name)
			}
		}
	})
}

// The configuration document carries the internal/topology definitions for
// the stack's vhost and every role's user with its own secret, and deletes
// guest: one definition for tests, `make services` and the nodes.
func TestBrokerConfigurationIsTheTopology(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		doc := r.OfType("aws:ssm/document:Document")[0]
		var content struct {
			MainSteps []struct {
				Inputs struct{ RunCommand []string }
			}
		}
		if err := json.Unmarshal([]byte(doc.Str("content")), &content); err != nil {
			t.Fatalf("document content: %v", err)
		}
		script := strings.Join(content.MainSteps[0].Inputs.RunCommand, "\n")
		want, err := topology.Definitions(topology.Spec{Vhost: "hookline", DeliveryLimit: 20})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(script, strings.TrimSpace(string(want.JSON()))) {
			t.Error("the configuration document does not carry topology.Definitions for vhost hookline")
		}
		// Both users of every role, each with its own secret: the broker
		// has them whichever credential the clients use.
		for _, l := range broker.Logins() {
			u := topology.UserFor(l.Role, l.Credential)
			tags := strings.Join(u.Tags, ",")
			if tags == "" {
				tags = "-"
			}
			line := "'" + u.Name + " " + tags + " " + secretArn + broker.SecretName("hookline-"+v.stack+"-rabbitmq", l) + "'"
			if !strings.Contains(script, line) {
				t.Errorf("no user line %s", line)
			}
		}
		if n := strings.Count(script, " "+secretArn+"hookline-"+v.stack+"-rabbitmq-"); n != len(topology.Users()) {
			t.Errorf("%d user lines; want %d (two per role)", n, len(topology.Users()))
		}
		if !strings.Contains(script, "readonly DELETE_GUEST='true'") {
			t.Error("the nodes keep the guest user")
		}
		if n := map[string]string{"dev": "1", "prod": "1", "prod-cluster": "3"}[v.name]; !strings.Contains(script, "readonly NODES='"+n+"'") {
			t.Errorf("document not rendered for %s nodes", n)
		}
	})
}

// One endpoint that survives a node: with nodes: 3 clients get an internal
// network load balancer across the three fixed addresses on 5671, never
// node 0's address; with one node, the address of the interface that
// outlives the instance.
func TestBrokerEndpoint(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		lbs := r.OfType("aws:lb/loadBalancer:LoadBalancer")
		receiverURL := ""
		for _, f := range receiverFns(r) {
			receiverURL, _ = f.Input("environment", "variables", "RABBITMQ_URL").(string)
		}
		if v.name != "prod-cluster" {
			if len(lbs) != 0 {
				t.Errorf("%d load balancers for one node", len(lbs))
			}
			if receiverURL != "amqps://10.255.0.10:5671/hookline" {
				t.Errorf("receiver RABBITMQ_URL %q; want the node's interface address", receiverURL)
			}
			return
		}
		if len(lbs) != 1 || !lbs[0].Bool("internal") || lbs[0].Str("loadBalancerType") != "network" {
			t.Fatalf("load balancers %v; want one internal network load balancer", lbs)
		}
		if want := "amqps://" + lbs[0].Name + "-0123456789abcdef.elb.amazonaws.com:5671/hookline"; receiverURL != want {
			t.Errorf("receiver RABBITMQ_URL %q; want the load balancer %q", receiverURL, want)
		}
		attachments := r.OfType("aws:lb/targetGroupAttachment:TargetGroupAttachment")
		if len(attachments) != 3 {
			t.Errorf("%d targets; want the three nodes", len(attachments))
		}
		for _, a := range attachments {
			if a.Int("port") != 5671 || a.Str("targetId") != "10.255.0.10" {
				t.Errorf("target %s:%d; want a node interface address on 5671", a.Str("targetId"), a.Int("port"))
			}
		}
		listeners := r.OfType("aws:lb/listener:Listener")
		if len(listeners) != 1 || listeners[0].Int("port") != 5671 || listeners[0].Str("protocol") != "TCP" {
			t.Errorf("listeners %v; want one TCP (TLS passed through) listener on 5671", listeners)
		}
		for _, lt := range r.OfType("aws:ec2/launchTemplate:LaunchTemplate") {
			if !strings.Contains(userDataScript(t, lt), "readonly ENDPOINT='"+lbs[0].Name+"-0123456789abcdef.elb.amazonaws.com'") {
				t.Errorf("%s's certificate would not name the load balancer", lt.Name)
			}
		}
	})
}

// TLS only: no rule anywhere admits plaintext AMQP (5672), the plaintext
// management API (15672) or plaintext Prometheus (15692); the management
// API over TLS (15671) only from the processor's group into the broker's
// (the collector's health counts; operators reach it through SSM port
// forwarding); clients are given amqps:// URLs.
func TestBrokerPortsAreTLSOnly(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		name := func(rule string) string { return "hookline-" + v.stack + "-" + rule }
		management := 0
		for _, typ := range []string{"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"} {
			for _, rule := range r.OfType(typ) {
				for _, p := range []int{5672, 15672, 15692} {
					if rule.Int("fromPort") <= p && p <= rule.Int("toPort") {
						t.Errorf("%s admits plaintext broker port %d", rule.Name, p)
					}
				}
				if rule.Int("fromPort") <= 15671 && 15671 <= rule.Int("toPort") {
					management++
					if rule.Name != name("processor-to-broker-15671") && rule.Name != name("broker-from-processor-15671") {
						t.Errorf("%s admits the management API (15671); only processor -> broker may", rule.Name)
					}
				}
			}
		}
		if management != 2 {
			t.Errorf("%d rules for the management API; want processor -> broker on both ends", management)
		}
		for _, f := range receiverFns(r) {
			if u, _ := f.Input("environment", "variables", "RABBITMQ_URL").(string); !strings.HasPrefix(u, "amqps://") {
				t.Errorf("receiver RABBITMQ_URL %q is not amqps://", u)
			}
		}
		// The queue-metrics collector scrapes every node over TLS.
		svc, _ := taskDefs(t, r)
		eps := strings.Split(envValue(containers(t, svc)[0], "QUEUE_METRICS_ENDPOINTS"), ",")
		if len(eps) != nodes[v.name] {
			t.Errorf("queue metrics endpoints %v; want one per node", eps)
		}
		for _, e := range eps {
			if e != "https://10.255.0.10:15691" {
				t.Errorf("queue metrics endpoint %q; want https://<node address>:15691", e)
			}
		}
		mgmt := strings.Split(envValue(containers(t, svc)[0], "QUEUE_METRICS_MANAGEMENT"), ",")
		if len(mgmt) != nodes[v.name] {
			t.Errorf("queue metrics management endpoints %v; want one per node", mgmt)
		}
		for _, e := range mgmt {
			if e != "https://10.255.0.10:15671" {
				t.Errorf("queue metrics management endpoint %q; want https://<node address>:15671", e)
			}
		}
	})
}

// pulumi up never replaces a broker instance as a side effect: instances
// ignore their launch template (user data, image, instance type), and are
// replaced delete-first only by `make broker-roll`.
func TestBrokerInstancesIgnoreLaunchTemplateChanges(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		for _, i := range r.OfType("aws:ec2/instance:Instance") {
			if strings.Join(i.IgnoreChanges, ",") != "launchTemplate" {
				t.Errorf("instance %s ignores %v; want its launchTemplate", i.Name, i.IgnoreChanges)
			}
		}
	})
}

// Data that outlives a destroy stays readable: every KMS key is retained on
// delete; in prod the keys and the broker's data volumes are protected.
func TestKeysRetainedAndProdDataProtected(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		prod := v.stack == "prod"
		keys := r.OfType("aws:kms/key:Key")
		if len(keys) == 0 {
			t.Fatal("no KMS keys")
		}
		for _, k := range keys {
			if !strings.Contains(k.Name, "-rabbitmq") {
				continue
			}
			if !k.RetainOnDelete {
				t.Errorf("key %s is deleted with the stack; its snapshots could not be read", k.Name)
			}
			if k.Protect != prod {
				t.Errorf("key %s protect %v; want %v", k.Name, k.Protect, prod)
			}
		}
		for _, vol := range r.OfType("aws:ebs/volume:Volume") {
			if vol.Protect != prod {
				t.Errorf("data volume %s protect %v; want %v", vol.Name, vol.Protect, prod)
			}
		}
	})
}

// Every node has the ready alarm: Booting for 15 minutes notifies the
// stack's one alarm topic; no data is not an alarm.
func TestBrokerReadyAlarm(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		topics := r.OfType("aws:sns/topic:Topic")
		if len(topics) != 1 {
			t.Fatalf("%d SNS topics; want the stack's one alarm topic", len(topics))
		}
		n := 0
		for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if a.Str("metricName") != "Booting" {
				continue
			}
			n++
			if a.Str("namespace") != broker.MetricsNamespace || a.Int("period")*a.Int("evaluationPeriods") != 60*broker.ReadyMinutes ||
				a.Str("treatMissingData") != "notBreaching" || a.Str("comparisonOperator") != "GreaterThanOrEqualToThreshold" {
				t.Errorf("alarm %s: %v", a.Name, a.Inputs)
			}
			if acts := a.Strs("alarmActions"); len(acts) != 1 || acts[0] != "arn:aws:sns:us-east-1:123456789012:"+topics[0].Name {
				t.Errorf("alarm %s notifies %v; want the stack's topic", a.Name, acts)
			}
		}
		if n != nodes[v.name] {
			t.Errorf("%d ready alarms; want one per node (%d)", n, nodes[v.name])
		}
	})
}

// nodes are the broker nodes of each shipped variant.
var nodes = map[string]int{"dev": 1, "prod": 1, "prod-cluster": 3}

// The database's data stays readable and its plan deterministic: its key is
// retained (every key is), the prod instance and key are protected, the
// final snapshot has the configured name, the windows come from config,
// and the slow-query log it exports is on.
func TestDatabaseKeepsItsData(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		prod := v.stack == "prod"
		for _, k := range r.OfType("aws:kms/key:Key") {
			if !k.RetainOnDelete {
				t.Errorf("key %s is deleted with the stack", k.Name)
			}
			if strings.Contains(k.Name, "-database") || strings.Contains(k.Name, "-cache") {
				if k.Protect != prod {
					t.Errorf("key %s protect %v; want %v", k.Name, k.Protect, prod)
				}
			}
		}
		dbs := r.OfType("aws:rds/instance:Instance")
		if len(dbs) != 1 {
			t.Fatalf("%d RDS instances", len(dbs))
		}
		db := dbs[0]
		if db.Protect != prod {
			t.Errorf("RDS instance protect %v; want %v", db.Protect, prod)
		}
		if prod && db.Str("finalSnapshotIdentifier") != "hookline-prod-database-final" {
			t.Errorf("final snapshot %q; want the configured, deterministic name", db.Str("finalSnapshotIdentifier"))
		}
		if db.Str("maintenanceWindow") != "sun:05:00-sun:06:00" || db.Str("backupWindow") != "03:00-04:00" {
			t.Errorf("windows %q / %q; want the stack config's", db.Str("maintenanceWindow"), db.Str("backupWindow"))
		}
		params := map[string]string{}
		for _, pg := range r.OfType("aws:rds/parameterGroup:ParameterGroup") {
			for _, p := range pg.Input("parameters").([]any) {
				m := p.(map[string]any)
				params[m["name"].(string)] = m["value"].(string)
			}
		}
		if params["slow_query_log"] != "1" || params["log_output"] != "FILE" {
			t.Errorf("parameters %v; the slow-query log is exported, so it must be written", params)
		}
	})
}

// RDS exports its error and slow-query logs to groups named after the
// instance identifier, which it would create itself without retention: the
// identifier is explicit, and the program declares both groups, with the
// stack's retention, before the instance (which depends on them).
func TestDatabaseLogGroupsHaveTheStacksRetention(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		db := r.OfType("aws:rds/instance:Instance")[0]
		id := "hookline-" + v.stack + "-database"
		if db.Str("identifier") != id {
			t.Fatalf("RDS identifier %q; want the explicit %q", db.Str("identifier"), id)
		}
		retention := map[string]int{"dev": 30, "prod": 365}[v.stack]
		groups := map[string]plan.Resource{}
		for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			groups[g.Str("name")] = g
		}
		exports := db.Strs("enabledCloudwatchLogsExports")
		if strings.Join(exports, ",") != "error,slowquery" {
			t.Errorf("exports %v; want error and slowquery", exports)
		}
		for _, log := range exports {
			g, ok := groups["/aws/rds/instance/"+id+"/"+log]
			if !ok {
				t.Errorf("no log group for the %s export: RDS would create one that keeps logs forever", log)
				continue
			}
			if g.Int("retentionInDays") != retention {
				t.Errorf("%s retention %d days; want the stack's %d", g.Str("name"), g.Int("retentionInDays"), retention)
			}
			if !contains(db.DependsOn, g.URN) {
				t.Errorf("the RDS instance does not depend on %s: RDS could create the group first", g.Str("name"))
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
