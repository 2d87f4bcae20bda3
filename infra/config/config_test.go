package config_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/config"
	"github.com/hookline/hookline/internal/topology"
)

const placeholder = "offlinePlanPlaceholder0123456789"

// shipped returns a shipped stack's raw config with every secret set, as an
// operator would have it.
func shipped(t *testing.T, stack string) map[string]string {
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
		sf.Values[k] = placeholder
	}
	doc, err := os.ReadFile(config.SampleSourcesPath(root, stack))
	if err != nil {
		t.Fatal(err)
	}
	sf.Values["hookline:webhookSources"] = string(doc)
	return sf.Values
}

// set changes one field of an object-valued key ("hookline:network", "cidr").
func set(t *testing.T, values map[string]string, key, field string, v any) {
	t.Helper()
	obj := map[string]any{}
	if raw, ok := values[key]; ok {
		if err := json.Unmarshal([]byte(raw), &obj); err != nil {
			t.Fatal(err)
		}
	}
	obj[field] = v
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	values[key] = string(b)
}

func parse(stack string, values map[string]string) (config.Config, error) {
	return config.Parse("hookline", stack, func(k string) (string, bool) {
		v, ok := values[k]
		return v, ok
	})
}

func TestShippedStacksParse(t *testing.T) {
	for _, tc := range []struct {
		stack      string
		azs, nats  int
		endpoints  int
		prodLimits bool
	}{
		{"dev", 2, 1, 0, false},
		{"prod", 3, 3, 7, true},
	} {
		t.Run(tc.stack, func(t *testing.T) {
			c, err := parse(tc.stack, shipped(t, tc.stack))
			if err != nil {
				t.Fatal(err)
			}
			if c.Profile != tc.stack || len(c.Network.AZs) != tc.azs || c.Network.NatCount() != tc.nats || len(c.Network.InterfaceEndpoints) != tc.endpoints {
				t.Errorf("profile %s, %d AZs, %d NATs, %d endpoints; want %s, %d, %d, %d",
					c.Profile, len(c.Network.AZs), c.Network.NatCount(), len(c.Network.InterfaceEndpoints), tc.stack, tc.azs, tc.nats, tc.endpoints)
			}
			if c.Database.MultiAZ != tc.prodLimits || c.Database.DeletionProtection != tc.prodLimits || (c.Cache.Replicas > 0) != tc.prodLimits {
				t.Errorf("durability knobs %+v / %+v do not match the %s stack table", c.Database, c.Cache, tc.stack)
			}
			if want := map[string][2]int{"dev": {1, 3}, "prod": {2, 20}}[tc.stack]; c.Processor.MinTasks != want[0] || c.Processor.MaxTasks != want[1] {
				t.Errorf("processor tasks %d–%d; want %d–%d (DESIGN.md's stack table)", c.Processor.MinTasks, c.Processor.MaxTasks, want[0], want[1])
			}
			if c.Processor.ShutdownTimeout() != c.Processor.StopTimeoutSeconds-config.ShutdownGraceSeconds || c.Processor.ShutdownTimeout() < 10 {
				t.Errorf("SHUTDOWN_TIMEOUT %d s for stopTimeout %d s", c.Processor.ShutdownTimeout(), c.Processor.StopTimeoutSeconds)
			}
			if c.Database.Engine != "mariadb" || c.Database.EngineVersion != "10.11" {
				t.Errorf("engine %s %s; want mariadb 10.11 by default", c.Database.Engine, c.Database.EngineVersion)
			}
		})
	}
}

func TestLayoutFitsAndIsDisjoint(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		c, err := parse(stack, shipped(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		subnets, err := c.Network.Layout()
		if err != nil {
			t.Fatal(err)
		}
		if want := 3 * len(c.Network.AZs); len(subnets) != want {
			t.Fatalf("%s: %d subnets, want %d", stack, len(subnets), want)
		}
		for i, a := range subnets {
			for _, b := range subnets[i+1:] {
				if overlaps(t, a.CIDR, b.CIDR) {
					t.Errorf("%s: %s (%s %s) overlaps %s (%s %s)", stack, a.CIDR, a.Tier, a.AZ, b.CIDR, b.Tier, b.AZ)
				}
			}
			if !overlaps(t, a.CIDR, c.Network.CIDR) {
				t.Errorf("%s: %s is outside the VPC %s", stack, a.CIDR, c.Network.CIDR)
			}
		}
	}
}

func TestValidationErrors(t *testing.T) {
	type edit func(t *testing.T, v map[string]string)
	field := func(key, f string, val any) edit {
		return func(t *testing.T, v map[string]string) { set(t, v, key, f, val) }
	}
	raw := func(key, val string) edit {
		return func(t *testing.T, v map[string]string) { v[key] = val }
	}
	omit := func(key string) edit {
		return func(t *testing.T, v map[string]string) { delete(v, key) }
	}
	for _, tc := range []struct {
		name  string
		stack string
		edit  edit
		want  string // the error line starts with this
		says  string // and contains this
	}{
		{"bad CIDR", "dev", field("hookline:network", "cidr", "10.20.0.0/33"), "hookline:network.cidr:", "accepts"},
		{"host bits in CIDR", "dev", field("hookline:network", "cidr", "10.20.1.0/16"), "hookline:network.cidr:", "not an IPv4 network CIDR"},
		{"public CIDR", "dev", field("hookline:network", "cidr", "8.8.0.0/16"), "hookline:network.cidr:", "RFC 1918"},
		{"too few AZs for dev", "dev", field("hookline:network", "azs", []string{"us-east-1a"}), "hookline:network.azs:", "at least 2"},
		{"too few AZs for prod", "prod", field("hookline:network", "azs", []string{"us-east-1a", "us-east-1b"}), "hookline:network.azs:", "at least 3"},
		{"AZ of another region", "dev", field("hookline:network", "azs", []string{"us-east-1a", "eu-west-1b"}), "hookline:network.azs:", "not an AZ of us-east-1"},
		{"same AZ twice", "dev", field("hookline:network", "azs", []string{"us-east-1a", "us-east-1a"}), "hookline:network.azs:", "twice"},
		{"subnets do not fit", "dev", field("hookline:network", "cidr", "10.20.0.0/22"), "hookline:network.computePrefix:", "cannot be a subnet"},
		{"subnets do not fit at all", "prod", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:network", "cidr", "10.30.0.0/22")
			set(t, v, "hookline:network", "computePrefix", 24)
		}, "hookline:network:", "do not fit"},
		{"prod with one NAT", "prod", field("hookline:network", "natGateways", 1), "hookline:network.natGateways:", "one NAT gateway per AZ"},
		{"more NATs than AZs", "dev", field("hookline:network", "natGateways", 3), "hookline:network.natGateways:", "1 to 2"},
		{"unknown endpoint", "prod", field("hookline:network", "interfaceEndpoints", []string{"secretsmanager", "dynamo"}), "hookline:network.interfaceEndpoints:", "accepts any of"},
		{"bad retention", "dev", field("hookline:network", "flowLogRetentionDays", 10), "hookline:network.flowLogRetentionDays:", "accepts 1, 3"},
		{"loki over http", "dev", field("hookline:logs", "lokiUrl", "http://loki.example.com"), "hookline:logs.lokiUrl:", "accepts https://"},
		{"loki url with credentials", "dev", field("hookline:logs", "lokiUrl", "https://u:p@loki.example.com"), "hookline:logs.lokiUrl:", "without credentials"},
		{"loki url with the push path", "dev", field("hookline:logs", "lokiUrl", "https://loki.example.com/loki/api/v1/push"), "hookline:logs.lokiUrl:", "the push path is added"},
		{"loki url with a query", "dev", field("hookline:logs", "lokiUrl", "https://loki.example.com/?x=1"), "hookline:logs.lokiUrl:", "accepts"},
		{"loki secret without url", "dev", field("hookline:logs", "lokiSecretArn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:loki-AbCdEf"), "hookline:logs.lokiSecretArn:", "only with a Loki URL"},
		{"loki secret not an ARN", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:logs", "lokiUrl", "https://loki.example.com")
			set(t, v, "hookline:logs", "lokiSecretArn", "hookline/loki")
		}, "hookline:logs.lokiSecretArn:", "not a Secrets Manager secret ARN"},
		{"loki secret in another region", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:logs", "lokiUrl", "https://loki.example.com")
			set(t, v, "hookline:logs", "lokiSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:loki-AbCdEf")
		}, "hookline:logs.lokiSecretArn:", "stack's region"},
		{"unknown logs field", "dev", field("hookline:logs", "url", "https://loki.example.com"), "hookline:logs:", "unknown field"},
		{"unknown engine", "dev", field("hookline:database", "engine", "postgres"), "hookline:database.engine:", "mariadb or mysql"},
		{"unknown engine version", "dev", field("hookline:database", "engineVersion", "10.6"), "hookline:database.engineVersion:", "10.11 or 11.4"},
		{"mysql 8.0 accepted, 5.7 not", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:database", "engine", "mysql")
			set(t, v, "hookline:database", "engineVersion", "5.7")
		}, "hookline:database.engineVersion:", "8.0 or 8.4"},
		{"unknown DB instance family", "dev", field("hookline:database", "instanceClass", "db.x9z.large"), "hookline:database.instanceClass:", "db.<family>.<size>"},
		{"short prod backups", "prod", field("hookline:database", "backupRetentionDays", 7), "hookline:database.backupRetentionDays:", "14 to 35"},
		{"prod without Multi-AZ", "prod", field("hookline:database", "multiAz", false), "hookline:database.multiAz:", "accepts true"},
		{"prod without deletion protection", "prod", field("hookline:database", "deletionProtection", false), "hookline:database.deletionProtection:", "accepts true"},
		{"prod without final snapshot", "prod", field("hookline:database", "finalSnapshot", false), "hookline:database.finalSnapshot:", "accepts true"},
		{"PI on micro", "dev", field("hookline:database", "performanceInsights", true), "hookline:database.performanceInsights:", "db.t4g.medium or larger"},
		{"unknown cache family", "dev", field("hookline:cache", "nodeType", "cache.x1.large"), "hookline:cache.nodeType:", "cache.<family>.<size>"},
		{"prod cache without replica", "prod", field("hookline:cache", "replicas", 0), "hookline:cache.replicas:", "1 to 5"},
		{"x86 broker", "dev", field("hookline:broker", "instanceType", "m7i.large"), "hookline:broker.instanceType:", "Graviton"},
		{"two broker nodes", "dev", field("hookline:broker", "nodes", 2), "hookline:broker.nodes:", "1 (one instance) or 3"},
		{"Performance Insights on a small burstable class", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:database", "performanceInsights", true)
			set(t, v, "hookline:database", "instanceClass", "db.t4g.small")
		}, "hookline:database.performanceInsights:", "db.t4g.medium"},
		{"bad maintenance window", "dev", field("hookline:database", "maintenanceWindow", "sunday 5am"), "hookline:database.maintenanceWindow:", "ddd:hh24:mi"},
		{"bad backup window", "dev", field("hookline:database", "backupWindow", "3-4"), "hookline:database.backupWindow:", "hh24:mi-hh24:mi"},
		{"upper-case DB identifier", "dev", field("hookline:database", "identifier", "Hookline-Dev"), "hookline:database.identifier:", "lower-case"},
		{"DB identifier with a double hyphen", "dev", field("hookline:database", "identifier", "hookline--dev"), "hookline:database.identifier:", "single hyphens"},
		{"DB identifier over 63 characters", "dev", field("hookline:database", "identifier", "h"+strings.Repeat("x", 63)), "hookline:database.identifier:", "up to 63"},
		{"bad database log retention", "prod", field("hookline:database", "logRetentionDays", 42), "hookline:database.logRetentionDays:", "accepts 1, 3"},
		{"Performance Insights on db.t3.small", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:database", "performanceInsights", true)
			set(t, v, "hookline:database", "instanceClass", "db.t3.small")
		}, "hookline:database.performanceInsights:", "db.t4g.medium"},
		{"backup window inside the maintenance window", "dev", field("hookline:database", "backupWindow", "05:15-05:45"), "hookline:database.backupWindow:", "overlaps the maintenance window"},
		{"backup window across the maintenance window's start", "dev", field("hookline:database", "backupWindow", "04:45-05:15"), "hookline:database.backupWindow:", "overlaps"},
		{"backup window across midnight into a Monday maintenance", "dev", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:database", "maintenanceWindow", "sun:23:30-mon:00:30")
			set(t, v, "hookline:database", "backupWindow", "00:00-01:00")
		}, "hookline:database.backupWindow:", "overlaps"},
		{"backup window of 20 minutes", "dev", field("hookline:database", "backupWindow", "03:00-03:20"), "hookline:database.backupWindow:", "at least 30 minutes"},
		{"maintenance window of 10 minutes", "dev", field("hookline:database", "maintenanceWindow", "sun:05:00-sun:05:10"), "hookline:database.maintenanceWindow:", "at least 30 minutes"},
		{"bad final snapshot name", "dev", field("hookline:database", "finalSnapshotName", "final--2-"), "hookline:database.finalSnapshotName:", "single hyphens"},
		{"RabbitMQ 3.x", "dev", field("hookline:broker", "image", "docker.io/library/rabbitmq:3.13.7-management@sha256:"+strings.Repeat("a", 64)), "hookline:broker.image:", "4.<minor>.<patch>"},
		{"image by tag", "dev", field("hookline:broker", "image", "docker.io/library/rabbitmq:4.3.6-management"), "hookline:broker.image:", "pinned by digest"},
		{"x86 AMI", "dev", field("hookline:broker", "amiParameter", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"), "hookline:broker.amiParameter:", "arm64"},
		{"unknown key", "dev", field("hookline:broker", "keyPair", "mine"), "hookline:broker:", "unknown field \"keyPair\""},
		{"Prometheus from anywhere", "prod", field("hookline:broker", "prometheusSources", []string{"0.0.0.0/0"}), "hookline:broker.prometheusSources:", "not a private range"},
		{"Prometheus from a public range", "dev", field("hookline:broker", "prometheusSources", []string{"203.0.113.0/24"}), "hookline:broker.prometheusSources:", "not a private range"},
		{"Prometheus range wider than RFC 1918", "dev", field("hookline:broker", "prometheusSources", []string{"10.0.0.0/7"}), "hookline:broker.prometheusSources:", "not a private range"},
		{"Prometheus CIDR with host bits", "dev", field("hookline:broker", "prometheusSources", []string{"10.40.1.0/16"}), "hookline:broker.prometheusSources:", "neither a CIDR nor a security group id"},
		{"Prometheus IPv6", "dev", field("hookline:broker", "prometheusSources", []string{"fd00::/8"}), "hookline:broker.prometheusSources:", "neither a CIDR nor a security group id"},
		{"Prometheus bad group id", "dev", field("hookline:broker", "prometheusSources", []string{"sg-123"}), "hookline:broker.prometheusSources:", "neither a CIDR nor a security group id"},
		{"Prometheus source twice", "dev", field("hookline:broker", "prometheusSources", []string{"10.40.0.0/16", "10.40.0.0/16"}), "hookline:broker.prometheusSources:", "listed twice"},
		{"Prometheus sources over 10", "dev", field("hookline:broker", "prometheusSources", []string{"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16", "10.6.0.0/16", "10.7.0.0/16", "10.8.0.0/16", "10.9.0.0/16", "10.10.0.0/16", "10.11.0.0/16"}), "hookline:broker.prometheusSources:", "11 sources"},
		{"wrong type", "dev", raw("hookline:cache", `{"replicas":"two"}`), "hookline:cache:", "field \"replicas\""},
		{"missing auth token", "dev", omit("hookline:cacheAuthToken"), "hookline:cacheAuthToken:", "required secret is missing"},
		{"missing broker password", "prod", omit("hookline:brokerReceiverPassword"), "hookline:brokerReceiverPassword:", "pulumi config set --secret"},
		{"missing credential b password", "dev", omit("hookline:brokerCollectorPasswordB"), "hookline:brokerCollectorPasswordB:", "pulumi config set --secret hookline:brokerCollectorPasswordB"},
		{"weak credential b password", "prod", raw("hookline:brokerAdminPasswordB", "short"), "hookline:brokerAdminPasswordB:", "at least 16"},
		{"credential b password with a space", "dev", raw("hookline:brokerProcessorPasswordB", strings.Repeat("a", 10)+" "+strings.Repeat("b", 10)), "hookline:brokerProcessorPasswordB:", "spaces"},
		{"credential c", "dev", field("hookline:broker", "credentials", map[string]string{"receiver": "c"}), "hookline:broker.credentials.receiver:", "accepts a or b"},
		{"credential A in capitals", "prod", field("hookline:broker", "credentials", map[string]string{"processor": "A"}), "hookline:broker.credentials.processor:", "accepts a or b"},
		{"credential of an unknown role", "dev", field("hookline:broker", "credentials", map[string]string{"sender": "b"}), "hookline:broker.credentials:", "receiver, processor, collector, admin"},
		{"credentials as a list", "dev", field("hookline:broker", "credentials", []string{"b"}), "hookline:broker:", "credentials"},
		{"bad auth token", "dev", raw("hookline:cacheAuthToken", "short"), "hookline:cacheAuthToken:", "16 to 128"},
		{"cluster without cookie", "prod", func(t *testing.T, v map[string]string) {
			set(t, v, "hookline:broker", "nodes", 3)
			delete(v, "hookline:brokerErlangCookie")
		}, "hookline:brokerErlangCookie:", "required secret is missing"},
		{"missing owner", "dev", omit("hookline:owner"), "hookline:owner:", "missing"},
		{"Fargate CPU size", "dev", field("hookline:processor", "cpu", 300), "hookline:processor.cpu:", "256, 512"},
		{"memory that does not fit the CPU", "prod", field("hookline:processor", "memoryMiB", 1024), "hookline:processor.memoryMiB:", "2048 to 8192"},
		{"prod with one task", "prod", field("hookline:processor", "minTasks", 1), "hookline:processor.minTasks:", "2 to 100"},
		{"max below min", "dev", field("hookline:processor", "maxTasks", 0), "hookline:processor.maxTasks:", "minTasks"},
		{"scale-out step of nothing", "prod", field("hookline:processor", "backlogStep", 0), "hookline:processor.backlogStep:", "1 to maxTasks - minTasks"},
		{"step beyond the range", "dev", field("hookline:processor", "cpu90Step", 5), "hookline:processor.cpu90Step:", "1 to maxTasks - minTasks (2)"},
		{"cooldown under a minute", "dev", field("hookline:processor", "scaleOutCooldownSeconds", 10), "hookline:processor.scaleOutCooldownSeconds:", "60 to 3600"},
		{"prefetch over the quorum cap", "dev", field("hookline:processor", "prefetch", 5000), "hookline:processor.prefetch:", "2000"},
		{"stop timeout over Fargate's", "dev", field("hookline:processor", "stopTimeoutSeconds", 300), "hookline:processor.stopTimeoutSeconds:", "10 to 120"},
		{"processor log retention", "dev", field("hookline:processor", "logRetentionDays", 2), "hookline:processor.logRetentionDays:", "accepts 1, 3"},
		{"receiver reserved 0", "dev", field("hookline:receiver", "reservedConcurrency", 0), "hookline:receiver.reservedConcurrency:", "-1"},
		{"receiver over API Gateway's timeout", "dev", field("hookline:receiver", "timeoutSeconds", 30), "hookline:receiver.timeoutSeconds:", "3 to 29"},
		{"receiver memory", "prod", field("hookline:receiver", "memoryMiB", 64), "hookline:receiver.memoryMiB:", "128 to 10240"},
		{"missing sources document", "dev", omit("hookline:webhookSources"), "hookline:webhookSources:", "required secret is missing"},
		{"missing processor database password", "prod", omit("hookline:databaseProcessorPassword"), "hookline:databaseProcessorPassword:", "pulumi config set --secret hookline:databaseProcessorPassword"},
		{"short processor database password", "dev", raw("hookline:databaseProcessorPassword", "sixteen-chars-ok"), "hookline:databaseProcessorPassword:", "32 to 128"},
		{"processor database password with a quote", "dev", raw("hookline:databaseProcessorPassword", strings.Repeat("a", 32)+"'"), "hookline:databaseProcessorPassword:", "quotes"},
		{"processor database password with a space", "dev", raw("hookline:databaseProcessorPassword", strings.Repeat("a", 20)+" "+strings.Repeat("b", 20)), "hookline:databaseProcessorPassword:", "spaces"},
		{"processor user is the master user", "dev", field("hookline:database", "processorUsername", "hookline_admin"), "hookline:database.processorUsername:", "different from masterUsername"},
		{"processor user over MySQL's 32", "dev", field("hookline:database", "processorUsername", "p"+strings.Repeat("x", 32)), "hookline:database.processorUsername:", "32"},
		{"image tag instead of digest", "dev", raw("hookline:processorImageDigest", "latest"), "hookline:processorImageDigest:", "sha256:<64 hex digits>"},
		{"short migration digest", "prod", raw("hookline:migrationImageDigest", "sha256:abc"), "hookline:migrationImageDigest:", "sha256:<64 hex digits>"},
		{"alarm threshold zero", "dev", field("hookline:alarms", "publishFailures", 0), "hookline:alarms.publishFailures:", "above 0"},
		{"alarm threshold negative", "prod", field("hookline:alarms", "brokerDiskPercent", -5), "hookline:alarms.brokerDiskPercent:", "above 0"},
		{"alarm percentage over 100", "prod", field("hookline:alarms", "apiErrorPercent", 150), "hookline:alarms.apiErrorPercent:", "at most 100"},
		{"alarm share over 1", "dev", field("hookline:alarms", "lambdaDurationShare", 80), "hookline:alarms.lambdaDurationShare:", "at most 1"},
		{"unknown alarm key", "dev", field("hookline:alarms", "cpu", 80), "hookline:alarms:", "unknown field"},
		{"alarm threshold as text", "dev", field("hookline:alarms", "rejectedSignature", "twenty"), "hookline:alarms:", "rejectedSignature"},
		{"bad region", "dev", raw("aws:region", "moon-1"), "aws:region:", "us-east-1"},
		{"unknown profile", "dev", raw("hookline:profile", "staging"), "hookline:profile:", "dev or prod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			values := shipped(t, tc.stack)
			tc.edit(t, values)
			_, err := parse(tc.stack, values)
			if err == nil {
				t.Fatalf("config accepted; want an error starting %q", tc.want)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || !strings.Contains(msg, tc.says) {
				t.Errorf("error %q; want it to start with %q and say %q", msg, tc.want, tc.says)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if strings.Contains(msg, placeholder) {
				t.Errorf("error leaks a secret value: %q", msg)
			}
		})
	}
}

// broker.credentials: every role's clients use credential a unless the
// stack says b for that role; the others stay on a.
func TestBrokerCredentials(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		c, err := parse(stack, shipped(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range topology.Roles {
			if got := c.Broker.Credential(r); got != topology.A {
				t.Errorf("%s: %s uses credential %s by default; want a", stack, r, got)
			}
		}
		values := shipped(t, stack)
		set(t, values, "hookline:broker", "credentials", map[string]string{"receiver": "b", "collector": "a"})
		if c, err = parse(stack, values); err != nil {
			t.Fatal(err)
		}
		want := map[topology.Role]topology.Credential{topology.Receiver: topology.B, topology.Processor: topology.A, topology.Collector: topology.A, topology.Admin: topology.A}
		for r, cred := range want {
			if got := c.Broker.Credential(r); got != cred {
				t.Errorf("%s: %s uses credential %s; want %s", stack, r, got, cred)
			}
		}
	}
}

// Every broker password key reads into its own field.
func TestBrokerPasswordKeys(t *testing.T) {
	values := shipped(t, "dev")
	for _, r := range topology.Roles {
		for _, cred := range topology.Credentials {
			values["hookline:"+config.BrokerPasswordKey(r, cred)] = "pw-" + string(r) + "-" + string(cred) + "-0123456789"
		}
	}
	c, err := parse("dev", values)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range topology.Roles {
		for _, cred := range topology.Credentials {
			key := config.BrokerPasswordKey(r, cred)
			if !contains(config.SecretKeys, "hookline:"+key) {
				t.Errorf("%s is not among the secret keys", key)
			}
			if got, want := c.Secrets.BrokerPassword(r, cred), "pw-"+string(r)+"-"+string(cred)+"-0123456789"; got != want {
				t.Errorf("%s reads %q; want %q", key, got, want)
			}
		}
	}
	if config.BrokerPasswordKey(topology.Receiver, topology.A) != "brokerReceiverPassword" || config.BrokerPasswordKey(topology.Receiver, topology.B) != "brokerReceiverPasswordB" {
		t.Error("the receiver's keys are not brokerReceiverPassword and brokerReceiverPasswordB")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestProfileFromConfigForOtherStacks(t *testing.T) {
	values := shipped(t, "dev")
	if _, err := parse("feature-x", values); err == nil || !strings.HasPrefix(err.Error(), "hookline:profile:") {
		t.Fatalf("stack feature-x without a profile: err %v; want a hookline:profile error", err)
	}
	values["hookline:profile"] = "dev"
	c, err := parse("feature-x", values)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name() != "hookline-feature-x" || c.Tags()["stack"] != "feature-x" {
		t.Errorf("name %q tags %v", c.Name(), c.Tags())
	}
}

func overlaps(t *testing.T, a, b string) bool {
	t.Helper()
	pa, pb := mustPrefix(t, a), mustPrefix(t, b)
	return pa.Overlaps(pb)
}

// The other side of the refusals: Performance Insights on the smallest
// class AWS supports it on, and an explicit DB identifier, are accepted and
// used; without one the identifier is <project>-<stack>-database.
func TestDatabaseIdentifierAndInsightsAccepted(t *testing.T) {
	values := shipped(t, "dev")
	c, err := parse("dev", values)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.DatabaseIdentifier(); got != "hookline-dev-database" {
		t.Errorf("default identifier %q; want hookline-dev-database", got)
	}
	set(t, values, "hookline:database", "performanceInsights", true)
	set(t, values, "hookline:database", "instanceClass", "db.t4g.medium")
	set(t, values, "hookline:database", "identifier", "hookline-dev-db-2")
	// Adjacent windows, and a backup window across midnight, are not overlaps.
	set(t, values, "hookline:database", "maintenanceWindow", "sat:23:30-sun:01:00")
	set(t, values, "hookline:database", "backupWindow", "22:30-23:30")
	if c, err = parse("dev", values); err != nil {
		t.Fatalf("PI on db.t4g.medium, an explicit identifier, adjacent windows refused: %v", err)
	}
	if got := c.DatabaseIdentifier(); got != "hookline-dev-db-2" {
		t.Errorf("identifier %q; want the configured hookline-dev-db-2", got)
	}
}

// TestAlarmThresholdsOverride: hookline:alarms changes the keys it names
// and leaves every other threshold at the profile's default.
func TestAlarmThresholdsOverride(t *testing.T) {
	values := shipped(t, "prod")
	set(t, values, "hookline:alarms", "rejectedSignature", 75)
	set(t, values, "hookline:alarms", "backlogDrainMinutes", 45)
	c, err := parse("prod", values)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Defaults("prod").Alarms.Thresholds
	want.RejectedSignature, want.BacklogDrainMinutes = 75, 45
	if c.Alarms.Thresholds != want {
		t.Errorf("thresholds %+v; want the prod defaults with two keys changed: %+v", c.Alarms.Thresholds, want)
	}
	if d := config.Defaults("dev").Alarms.Thresholds; d == want || d.PublishFailures == 0 {
		t.Errorf("dev defaults %+v: want their own, every one set", d)
	}
}

// TestPrometheusSourcesAccepted: none by default on every shipped stack;
// private CIDRs of each RFC 1918 range and both lengths of security group
// id are accepted as given.
func TestPrometheusSourcesAccepted(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		c, err := parse(stack, shipped(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Broker.PrometheusSources) != 0 {
			t.Errorf("%s: prometheusSources %v by default; want none", stack, c.Broker.PrometheusSources)
		}
	}
	values := shipped(t, "prod")
	want := []string{"10.40.0.0/16", "172.16.5.0/24", "192.168.0.0/16", "10.30.7.9/32", "sg-0123456789abcdef0", "sg-89abcdef"}
	set(t, values, "hookline:broker", "prometheusSources", want)
	c, err := parse("prod", values)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if !slices.Equal(c.Broker.PrometheusSources, want) {
		t.Errorf("prometheusSources %v; want %v", c.Broker.PrometheusSources, want)
	}
}

func TestLogsAccepted(t *testing.T) {
	for _, stack := range []string{"dev", "prod"} {
		c, err := parse(stack, shipped(t, stack))
		if err != nil {
			t.Fatal(err)
		}
		if c.Logs.Shipping() || c.Logs != (config.Logs{}) {
			t.Errorf("%s: logs %+v by default; want no shipping", stack, c.Logs)
		}
	}
	for _, want := range []config.Logs{
		{LokiURL: "https://logs-prod-006.grafana.net", LokiSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:hookline/prod/loki-AbCdEf"},
		{LokiURL: "https://loki.internal.example.com/tenant-a"},
	} {
		values := shipped(t, "prod")
		set(t, values, "hookline:logs", "lokiUrl", want.LokiURL)
		if want.LokiSecretArn != "" {
			set(t, values, "hookline:logs", "lokiSecretArn", want.LokiSecretArn)
		}
		c, err := parse("prod", values)
		if err != nil {
			t.Fatalf("refused %+v: %v", want, err)
		}
		if c.Logs != want || !c.Logs.Shipping() {
			t.Errorf("logs %+v; want %+v, shipping", c.Logs, want)
		}
	}
}
