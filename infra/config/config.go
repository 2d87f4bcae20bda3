// Package config is hookline's one typed view of a stack's Pulumi
// configuration: defaults per profile (defaults.go), the keys a stack file
// may set, and validation that runs before any resource is declared.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hookline/hookline/internal/topology"
)

// Namespace is the Pulumi config namespace (the project name).
const Namespace = "hookline"

// Config is everything the program decides from configuration.
//
// The `config` tag names the stack config key a field is read from: a
// name in the hookline namespace ("network" is hookline:network), a full
// key ("aws:region"), "-" for a value that is not a config key, and
// ",secret" for a key an operator sets with `pulumi config set --secret`.
// An object-valued key's fields are its `json` names. Untagged struct
// fields group keys (Secrets, Images, Alarms). docs/config.md is generated
// from these tags, the field comments and the defaults (make config-doc).
type Config struct {
	Project string `config:"-"`          // Pulumi project name
	Stack   string `config:"-"`          // Pulumi stack name
	Profile string `config:"profile"`    // dev or prod: picks the defaults of the stack table; defaults to the stack name when that is dev or prod
	Region  string `config:"aws:region"` // the AWS region of every resource, e.g. us-east-1
	Owner   string `config:"owner"`      // the owning team or address, tagged on every resource (required)

	Network  Network  `config:"network"`  // the VPC: subnet tiers in every AZ, NAT gateways, endpoints, flow logs
	Database Database `config:"database"` // the RDS instance
	Cache    Cache    `config:"cache"`    // the ElastiCache Redis replication group
	Broker   Broker   `config:"broker"`   // RabbitMQ on Graviton EC2 (docs/broker.md)
	Secrets  Secrets  // the operator's secrets

	Processor Processor `config:"processor"` // the queue consumer's ECS Fargate service
	Receiver  Receiver  `config:"receiver"`  // the webhook Lambda
	Images    Images    // image digests the deploy script records

	Edge   *Edge   `config:"edge"` // the public way in: Cloudflare in front of API Gateway (docs/edge.md); left out, the stack has no public endpoint
	Routes []Route `config:"-"`    // the sources document's sources, when the edge is set
	Alarms Alarms  // where the stack's alarms go and what they page on
	Logs   Logs    `config:"logs"`   // optional copy of the receiver's and processor's logs to Loki; CloudWatch keeps every line
	Canary Canary  `config:"canary"` // the end-to-end canary: a signed webhook to the edge's first hostname every few minutes (docs/observability.md); needs hookline:edge
}

// Canary is the end-to-end canary (infra/canary, lambda/canary).
type Canary struct {
	Enabled          bool `json:"enabled"`          // declare the canary when the stack has an edge (hookline:canarySecret then required)
	IntervalMinutes  int  `json:"intervalMinutes"`  // minutes between runs, 1 to 60; also the period of the canary alarms
	TimeoutSeconds   int  `json:"timeoutSeconds"`   // a run's request timeout, 1 to 60 (the function gets 10 s more)
	LogRetentionDays int  `json:"logRetentionDays"` // retention of the canary's log group
}

// CanaryOn reports whether the stack declares the canary: enabled, and a
// public endpoint to post to.
func (c Config) CanaryOn() bool { return c.Canary.Enabled && c.Edge != nil }

// Processor is the queue consumer's ECS Fargate service.
type Processor struct {
	CPU                int `json:"cpu"`                // Fargate CPU units: 256, 512, 1024, 2048 or 4096
	MemoryMiB          int `json:"memoryMiB"`          // task memory, a Fargate size valid for cpu
	MinTasks           int `json:"minTasks"`           // desired count at creation; autoscaling's floor (prod at least 2)
	MaxTasks           int `json:"maxTasks"`           // autoscaling's ceiling, minTasks to 100
	Prefetch           int `json:"prefetch"`           // PREFETCH: unacknowledged deliveries per consumer, 1 to 2000 (the quorum queue cap)
	Concurrency        int `json:"concurrency"`        // CONCURRENCY: workers per task, 1 to 256; each entity always goes to the same one
	StopTimeoutSeconds int `json:"stopTimeoutSeconds"` // ECS stopTimeout, 10 to 120; the processor's SHUTDOWN_TIMEOUT is 5 s less
	LogRetentionDays   int `json:"logRetentionDays"`   // retention of the processor's log group

	// Autoscaling (infra/scaling): tasks added per invocation of each
	// scale-out rule, and the policies' cooldowns.
	BacklogStep             int `json:"backlogStep"`             // tasks rule 1 adds per invocation: queue depth rising and ingestion above consumption (docs/scaling.md)
	CPU80Step               int `json:"cpu80Step"`               // tasks rule 2 adds per invocation: CPU >= 80 % for more than 15 minutes
	CPU90Step               int `json:"cpu90Step"`               // tasks rule 3 adds per invocation: CPU >= 90 % for more than 5 minutes
	ScaleOutCooldownSeconds int `json:"scaleOutCooldownSeconds"` // the scale-out policies' cooldown, 60 to 3600
	ScaleInCooldownSeconds  int `json:"scaleInCooldownSeconds"`  // the cooldown after rule 4's return to the minimum, 60 to 3600
}

// ShutdownGraceSeconds is how much earlier than ECS's SIGKILL (stopTimeout)
// the processor's own SHUTDOWN_TIMEOUT ends: time to flush logs and exit.
const ShutdownGraceSeconds = 5

// ShutdownTimeout is the processor's SHUTDOWN_TIMEOUT in seconds.
func (p Processor) ShutdownTimeout() int { return p.StopTimeoutSeconds - ShutdownGraceSeconds }

// Receiver is the webhook Lambda.
type Receiver struct {
	MemoryMiB           int `json:"memoryMiB"`           // Lambda memory, 128 to 10240 (CPU grows with it)
	ReservedConcurrency int `json:"reservedConcurrency"` // reserved concurrent executions, 1 to 10000; -1: no reservation (accounts at the default quota of 10)
	TimeoutSeconds      int `json:"timeoutSeconds"`      // Lambda timeout, 3 to 29: under API Gateway's 30 s
	LogRetentionDays    int `json:"logRetentionDays"`    // retention of the receiver's log group
}

// Images are the processor image digests (sha256:…) in the stack's ECR
// repository, written by `make deploy` with `pulumi config set`. Migration
// moves first; Processor follows once the migration task exited 0. Empty
// Migration: no migration task definition yet; empty Processor: no service
// yet (a stack's first deploy creates the repository before any image
// exists, then migrates, then starts the service).
type Images struct {
	Processor string `config:"processorImageDigest"` // the digest the processor service runs (sha256:…), recorded by make deploy; empty: no service yet
	Migration string `config:"migrationImageDigest"` // the digest the migration task runs, recorded by make deploy; defaults to processorImageDigest
}

// Network is the VPC layout: tiers in every AZ, NAT gateways, endpoints, flow logs.
type Network struct {
	CIDR                 string   `json:"cidr"`                 // the VPC's private (RFC 1918) IPv4 block, prefix /16 to /24 (no default: each stack names its own)
	AZs                  []string `json:"azs"`                  // the AZs, listed explicitly (no lookup): dev at least 2, prod at least 3
	NatGateways          int      `json:"natGateways"`          // NAT gateways, 1 to the number of AZs; -1: one per AZ (prod accepts only that)
	PublicPrefix         int      `json:"publicPrefix"`         // prefix length of each public subnet (NAT gateways only)
	ComputePrefix        int      `json:"computePrefix"`        // prefix length of each compute subnet (Lambda ENIs, ECS tasks, RabbitMQ)
	DatabasePrefix       int      `json:"databasePrefix"`       // prefix length of each database subnet (RDS, Redis; no route to the internet)
	InterfaceEndpoints   []string `json:"interfaceEndpoints"`   // interface VPC endpoints by short name (com.amazonaws.<region>.<name>); none: AWS APIs through NAT
	FlowLogRetentionDays int      `json:"flowLogRetentionDays"` // retention of the VPC flow log group
}

// Database is the RDS instance.
type Database struct {
	Engine              string `json:"engine"`              // mariadb or mysql
	EngineVersion       string `json:"engineVersion"`       // major version, e.g. 10.11 or 8.0
	InstanceClass       string `json:"instanceClass"`       // db.<family>.<size>, Graviton or Intel families
	AllocatedStorageGiB int    `json:"allocatedStorageGiB"` // storage at creation, 20 to 65536
	MaxStorageGiB       int    `json:"maxStorageGiB"`       // storage autoscaling's ceiling, at least allocatedStorageGiB
	MultiAZ             bool   `json:"multiAz"`             // a standby in a second AZ (prod: required)
	BackupRetentionDays int    `json:"backupRetentionDays"` // automated backups kept, up to 35 (prod at least 14)
	DeletionProtection  bool   `json:"deletionProtection"`  // refuse deleting the instance (prod: required)
	FinalSnapshot       bool   `json:"finalSnapshot"`       // take a final snapshot on deletion (prod: required)
	PerformanceInsights bool   `json:"performanceInsights"` // Performance Insights, encrypted with the stack's key (not on micro or small classes)
	// FinalSnapshotName is the final snapshot's identifier when the
	// instance is deleted; a second destroy of a stack needs a new one (the
	// teardown procedure bumps it: docs/broker.md, "Destroy and recreate").
	FinalSnapshotName string `json:"finalSnapshotName"`
	MaintenanceWindow string `json:"maintenanceWindow"` // ddd:hh24:mi-ddd:hh24:mi, UTC
	BackupWindow      string `json:"backupWindow"`      // hh24:mi-hh24:mi, UTC, not overlapping the maintenance window
	// Identifier is the DB instance identifier (default <project>-<stack>-database).
	// It is explicit so that the log groups RDS exports to can be declared,
	// with retention, before the instance; changing it replaces the instance.
	Identifier string `json:"identifier"`
	// LogRetentionDays is the retention of the error and slow-query log
	// groups the instance exports to.
	LogRetentionDays int    `json:"logRetentionDays"`
	Name             string `json:"name"`           // the database the processor's tables live in
	MasterUsername   string `json:"masterUsername"` // the RDS master user (its password is RDS-managed in Secrets Manager); only the migration task uses it
	// ProcessorUsername is the processor's own user: `processor migrate`
	// creates it and grants it rows only; its password is the
	// databaseProcessorPassword secret.
	ProcessorUsername string `json:"processorUsername"`
}

// Cache is the ElastiCache Redis replication group.
type Cache struct {
	NodeType              string `json:"nodeType"`              // cache.<family>.<size>, Graviton families
	EngineVersion         string `json:"engineVersion"`         // Redis 7.0 or 7.1
	Replicas              int    `json:"replicas"`              // replicas of the primary, 0 to 5; 1 or more: automatic failover and Multi-AZ (prod at least 1)
	SnapshotRetentionDays int    `json:"snapshotRetentionDays"` // daily snapshots kept, 1 to 35
}

// Broker is RabbitMQ on Graviton EC2.
type Broker struct {
	Nodes             int      `json:"nodes"`             // 1, or 3 for a quorum cluster (then hookline:brokerErlangCookie too)
	InstanceType      string   `json:"instanceType"`      // a Graviton EC2 type, <family>.<size>
	AMIParameter      string   `json:"amiParameter"`      // public SSM parameter of an arm64 AMI, resolved by EC2 at launch
	DataVolumeGiB     int      `json:"dataVolumeGiB"`     // each node's encrypted data volume, 8 to 16384
	Image             string   `json:"image"`             // the official image pinned by digest: docker.io/library/rabbitmq:<4.x.y>-management@sha256:…
	Vhost             string   `json:"vhost"`             // the vhost the topology and the users live in
	DeliveryLimit     int      `json:"deliveryLimit"`     // deliveries of one message before it dead-letters (quorum queue policy), 1 to 1000
	LogRetentionDays  int      `json:"logRetentionDays"`  // the nodes' bootstrap and ready log lines
	PrometheusSources []string `json:"prometheusSources"` // who else may scrape rabbitmq_prometheus (15691, TLS): private IPv4 CIDRs or sg-… ids, at most 10; none: only the collector
	// Credentials is each role's active credential, "a" or "b" (a role
	// left out: "a"): the broker user and secret its clients use. The
	// broker always has both users of every role; switching one changes
	// only the clients (docs/broker.md, "Rotating a broker password").
	Credentials map[topology.Role]topology.Credential `json:"credentials"`
}

// Credential is role r's active credential: Credentials[r], or A.
func (b Broker) Credential(r topology.Role) topology.Credential {
	if c, ok := b.Credentials[r]; ok {
		return c
	}
	return topology.A
}

// Secrets are the values only an operator may set, with
// `pulumi config set --secret`. They are never logged; components pass them
// on as Pulumi secrets.
type Secrets struct {
	CacheAuthToken          string `config:"cacheAuthToken,secret"`          // the Redis AUTH token: 16 to 128 letters, digits and ! & # $ ^ < > -
	BrokerAdminPassword     string `config:"brokerAdminPassword,secret"`     // the broker's admin user, at least 16 characters
	BrokerReceiverPassword  string `config:"brokerReceiverPassword,secret"`  // the broker user the receiver publishes as
	BrokerProcessorPassword string `config:"brokerProcessorPassword,secret"` // the broker user the processor consumes as
	BrokerCollectorPassword string `config:"brokerCollectorPassword,secret"` // the broker user the queue metrics collector reads as
	// The passwords of each role's second broker user, credential b
	// (hookline-<role>-b): rotate the credential the clients do not use
	// (broker.credentials), never the active one (docs/broker.md).
	BrokerAdminPasswordB     string `config:"brokerAdminPasswordB,secret"`     // the broker's second admin user (credential b), at least 16 characters
	BrokerReceiverPasswordB  string `config:"brokerReceiverPasswordB,secret"`  // the receiver's second broker user (credential b)
	BrokerProcessorPasswordB string `config:"brokerProcessorPasswordB,secret"` // the processor's second broker user (credential b)
	BrokerCollectorPasswordB string `config:"brokerCollectorPasswordB,secret"` // the queue metrics collector's second broker user (credential b)
	BrokerErlangCookie       string `config:"brokerErlangCookie,secret"`       // the nodes' shared Erlang cookie, 20 to 255 letters and digits (broker.nodes: 3)
	WebhookSources           string `config:"webhookSources,secret"`           // the sources document (YAML or JSON, DESIGN.md), origin secrets merged in
	// DatabaseProcessorPassword is the processor database user's password:
	// `processor migrate` sets it, the processor re-reads it from its
	// secret after a refusal; 32 to 128 printable characters.
	DatabaseProcessorPassword string `config:"databaseProcessorPassword,secret"`
	// OriginSecrets are the X-Origin-Verify values, newest first, as a
	// JSON list (or one value) of at least 32 characters each: merged into
	// the sources document for the receiver, and the first is the one
	// Cloudflare adds. Required with hookline:edge.
	OriginSecrets []string `config:"originSecrets,secret"`
	// CanarySecret is the signing secret of the canary's source
	// (hookline-canary, scheme standard): merged into WebhookSources as
	// that source, and stored in the canary's own secret.
	CanarySecret string `config:"canarySecret,secret"` // whsec_ and the base64 of 24 to 64 random bytes: "whsec_$(openssl rand -base64 32)"; required with the canary and an edge
}

// BrokerPasswordKey is the config key of role r's password as credential c:
// broker<Role>Password (a) or broker<Role>PasswordB (b).
func BrokerPasswordKey(r topology.Role, c topology.Credential) string {
	key := "broker" + strings.ToUpper(string(r[:1])) + string(r[1:]) + "Password"
	if c == topology.B {
		key += "B"
	}
	return key
}

// BrokerPassword is role r's password as credential c ("" for an unknown
// role or credential).
func (s Secrets) BrokerPassword(r topology.Role, c topology.Credential) string {
	return map[string]string{
		"brokerAdminPassword":      s.BrokerAdminPassword,
		"brokerReceiverPassword":   s.BrokerReceiverPassword,
		"brokerProcessorPassword":  s.BrokerProcessorPassword,
		"brokerCollectorPassword":  s.BrokerCollectorPassword,
		"brokerAdminPasswordB":     s.BrokerAdminPasswordB,
		"brokerReceiverPasswordB":  s.BrokerReceiverPasswordB,
		"brokerProcessorPasswordB": s.BrokerProcessorPasswordB,
		"brokerCollectorPasswordB": s.BrokerCollectorPasswordB,
	}[BrokerPasswordKey(r, c)]
}

// Lookup returns the raw value of a full config key ("hookline:network"),
// as Pulumi hands it to the program: objects and lists as JSON text.
type Lookup func(key string) (string, bool)

// Parse builds the Config of one stack from raw values: the profile's
// defaults, overridden by the stack's keys, then validated. The error, if
// any, is one line naming the key and what it accepts.
func Parse(project, stack string, get Lookup) (Config, error) {
	profile, ok := get(Namespace + ":profile")
	if !ok {
		profile = stack
	}
	if profile != "dev" && profile != "prod" {
		return Config{}, fmt.Errorf("%s:profile: %q is not a profile; accepts dev or prod (defaults to the stack name when that is dev or prod)", Namespace, profile)
	}
	c := Defaults(profile)
	c.Project, c.Stack, c.Profile = project, stack, profile
	c.Region, _ = get("aws:region")
	c.Owner, _ = get(Namespace + ":owner")

	objects := []struct {
		key  string
		into any
	}{
		{"network", &c.Network},
		{"database", &c.Database},
		{"cache", &c.Cache},
		{"broker", &c.Broker},
		{"processor", &c.Processor},
		{"receiver", &c.Receiver},
		{"alarms", &c.Alarms.Thresholds},
		{"logs", &c.Logs},
		{"canary", &c.Canary},
	}
	for _, o := range objects {
		raw, ok := get(Namespace + ":" + o.key)
		if !ok {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(o.into); err != nil {
			return Config{}, fmt.Errorf("%s:%s: %s", Namespace, o.key, decodeMessage(err))
		}
	}

	c.Secrets.CacheAuthToken, _ = get(Namespace + ":cacheAuthToken")
	c.Secrets.BrokerAdminPassword, _ = get(Namespace + ":brokerAdminPassword")
	c.Secrets.BrokerReceiverPassword, _ = get(Namespace + ":brokerReceiverPassword")
	c.Secrets.BrokerProcessorPassword, _ = get(Namespace + ":brokerProcessorPassword")
	c.Secrets.BrokerCollectorPassword, _ = get(Namespace + ":brokerCollectorPassword")
	c.Secrets.BrokerAdminPasswordB, _ = get(Namespace + ":brokerAdminPasswordB")
	c.Secrets.BrokerReceiverPasswordB, _ = get(Namespace + ":brokerReceiverPasswordB")
	c.Secrets.BrokerProcessorPasswordB, _ = get(Namespace + ":brokerProcessorPasswordB")
	c.Secrets.BrokerCollectorPasswordB, _ = get(Namespace + ":brokerCollectorPasswordB")
	c.Alarms.PagerDutyEndpoint, _ = get(Namespace + ":pagerDutyEndpoint")
	c.Secrets.BrokerErlangCookie, _ = get(Namespace + ":brokerErlangCookie")
	c.Secrets.WebhookSources, _ = get(Namespace + ":webhookSources")
	c.Secrets.DatabaseProcessorPassword, _ = get(Namespace + ":databaseProcessorPassword")
	c.Secrets.CanarySecret, _ = get(Namespace + ":canarySecret")
	c.Images.Processor, _ = get(Namespace + ":processorImageDigest")
	c.Images.Migration, _ = get(Namespace + ":migrationImageDigest")
	if c.Images.Migration == "" {
		c.Images.Migration = c.Images.Processor
	}
	if err := c.parseEdge(get); err != nil {
		return Config{}, err
	}

	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeMessage turns encoding/json errors into "what it accepts" wording.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case asTypeError(err, &te):
		return fmt.Sprintf("field %q has a %s where a %s is expected", te.Field, te.Value, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + "; docs/config.md lists the keys it accepts"
	default:
		return "not a valid object: " + err.Error()
	}
}

func asTypeError(err error, te **json.UnmarshalTypeError) bool {
	return errors.As(err, te)
}

// Name is the base name every component derives its children's names from.
func (c Config) Name() string { return c.Project + "-" + c.Stack }

// Tags are the tags every AWS resource carries (through the provider's default tags).
func (c Config) Tags() map[string]string {
	return map[string]string{
		"project":    c.Project,
		"stack":      c.Stack,
		"owner":      c.Owner,
		"managed-by": "pulumi",
	}
}

// DatabaseIdentifier is the configured DB instance identifier, or
// <project>-<stack>-database (the name the metrics dimension and the
// dashboards have always used).
func (c Config) DatabaseIdentifier() string {
	if c.Database.Identifier != "" {
		return c.Database.Identifier
	}
	return c.Name() + "-database"
}

// FinalSnapshotNameOr is the configured final snapshot name, or def (the
// name every stack had before the key existed, so nothing changes).
func (d Database) FinalSnapshotNameOr(def string) string {
	if d.FinalSnapshotName != "" {
		return d.FinalSnapshotName
	}
	return def
}
