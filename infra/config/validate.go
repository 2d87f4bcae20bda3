package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/hookline/hookline/infra/broker/bootstrap"
	"github.com/hookline/hookline/internal/topology"
)

// InterfaceEndpointServices are the interface endpoints a stack may ask for
// (short names: com.amazonaws.<region>.<name>).
var InterfaceEndpointServices = []string{"secretsmanager", "ecr.api", "ecr.dkr", "logs", "ssm", "ssmmessages", "ec2messages", "monitoring", "kms", "sts"}

var (
	azPattern         = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d[a-z]$`)
	regionPattern     = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d$`)
	dbClassPattern    = regexp.MustCompile(`^db\.(t4g|m6g|m7g|m8g|r6g|r7g|r8g|t3|m6i|m7i|r6i|r7i)\.(micro|small|medium|large|xlarge|\d{1,2}xlarge)$`)
	cacheNodePattern  = regexp.MustCompile(`^cache\.(t4g|m6g|m7g|r6g|r7g)\.(micro|small|medium|large|xlarge|\d{1,2}xlarge)$`)
	gravitonPattern   = regexp.MustCompile(`^(t4g|m6g|m7g|m8g|c6g|c7g|c8g|r6g|r7g|r8g)\.(nano|micro|small|medium|large|xlarge|\d{1,2}xlarge)$`)
	ssmParamPattern   = regexp.MustCompile(`^/aws/service/[A-Za-z0-9/_.-]+$`)
	identifierPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,15}$`)
	// printableNoQuotes: ASCII 0x21-0x7e except " ' and backslash.
	printableNoQuotes = regexp.MustCompile(`^[!#-&(-\[\]-~]+$`)
	// processorUserPattern: MySQL user names are at most 32 characters.
	processorUserPattern = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]{0,31}$`)
	vhostPattern         = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
	pagerDutyPattern     = regexp.MustCompile(`^https://events\.pagerduty\.com/integration/[A-Za-z0-9]{16,64}/enqueue$`)
	noInsights           = regexp.MustCompile(`^db\.t[234]g?\.(micro|small)$`)
	maintenancePattern   = regexp.MustCompile(`^(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d-(mon|tue|wed|thu|fri|sat|sun):([01]\d|2[0-3]):[0-5]\d$`)
	backupPattern        = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$`)
	snapshotPattern      = regexp.MustCompile(`^[A-Za-z](-?[A-Za-z0-9])*$`)
	// dbIdentifierPattern: RDS stores identifiers in lower case, and the
	// log group names are built from the identifier as configured.
	dbIdentifierPattern = regexp.MustCompile(`^[a-z](-?[a-z0-9])*$`)
	authTokenPattern    = regexp.MustCompile(`^[A-Za-z0-9!&#$^<>\-]{16,128}$`)
)

// engineVersions are the engines and major versions the database accepts,
// with the parameter group family each uses.
var engineVersions = map[string]map[string]string{
	"mariadb": {"10.11": "mariadb10.11", "11.4": "mariadb11.4"},
	"mysql":   {"8.0": "mysql8.0", "8.4": "mysql8.4"},
}

// ParameterFamily is the RDS parameter group family of the configured engine.
func (d Database) ParameterFamily() string { return engineVersions[d.Engine][d.EngineVersion] }

// Validate checks the whole config; the first problem is returned as one
// line naming the key and what it accepts.
func (c Config) Validate() error {
	for _, check := range []func() error{c.validateStack, c.validateNetwork, c.validateDatabase, c.validateCache, c.validateBroker, c.validateSecrets, c.validateProcessor, c.validateReceiver, c.validateImages, c.validateEdge, c.validateAlarms, c.validateLogs, c.validateCanary} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func keyErr(key, format string, args ...any) error {
	return fmt.Errorf("%s:%s: %s", Namespace, key, fmt.Sprintf(format, args...))
}

func (c Config) validateStack() error {
	if !regionPattern.MatchString(c.Region) {
		return fmt.Errorf("aws:region: %q is not an AWS region; accepts a region name such as us-east-1", c.Region)
	}
	if strings.TrimSpace(c.Owner) == "" {
		return keyErr("owner", "missing; accepts the owning team or address, tagged on every resource")
	}
	return nil
}

func (c Config) validateNetwork() error {
	n := c.Network
	p, err := netip.ParsePrefix(n.CIDR)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return keyErr("network.cidr", "%q is not an IPv4 network CIDR; accepts a private block such as 10.20.0.0/16 (prefix /16 to /24)", n.CIDR)
	}
	if p.Bits() < 16 || p.Bits() > 24 || !p.Addr().IsPrivate() {
		return keyErr("network.cidr", "%q is outside what a VPC takes; accepts a private (RFC 1918) block with prefix /16 to /24", n.CIDR)
	}
	if min := MinAZs(c.Profile); len(n.AZs) < min {
		return keyErr("network.azs", "%d AZs is too few for a %s stack; accepts at least %d AZs of %s, listed explicitly", len(n.AZs), c.Profile, min, c.Region)
	}
	seen := map[string]bool{}
	for _, az := range n.AZs {
		if !azPattern.MatchString(az) || !strings.HasPrefix(az, c.Region) || len(az) != len(c.Region)+1 {
			return keyErr("network.azs", "%q is not an AZ of %s; accepts names such as %sa", az, c.Region, c.Region)
		}
		if seen[az] {
			return keyErr("network.azs", "%q is listed twice; accepts distinct AZs", az)
		}
		seen[az] = true
	}
	if n.NatGateways != -1 && (n.NatGateways < 1 || n.NatGateways > len(n.AZs)) {
		return keyErr("network.natGateways", "%d is out of range; accepts 1 to %d (the number of AZs), or -1 for one per AZ", n.NatGateways, len(n.AZs))
	}
	if c.Profile == "prod" && n.NatCount() != len(n.AZs) {
		return keyErr("network.natGateways", "%d is fewer than one per AZ; a prod stack accepts only one NAT gateway per AZ (-1 or %d)", n.NatGateways, len(n.AZs))
	}
	for _, t := range []struct {
		key string
		v   int
	}{{"network.publicPrefix", n.PublicPrefix}, {"network.computePrefix", n.ComputePrefix}, {"network.databasePrefix", n.DatabasePrefix}} {
		if t.v < p.Bits() || t.v > 28 {
			return keyErr(t.key, "/%d cannot be a subnet of %s; accepts a prefix from /%d to /28", t.v, n.CIDR, p.Bits())
		}
	}
	if _, err := n.Layout(); err != nil {
		return err
	}
	for _, e := range n.InterfaceEndpoints {
		if !contains(InterfaceEndpointServices, e) {
			return keyErr("network.interfaceEndpoints", "%q is not a known interface endpoint; accepts any of %s", e, strings.Join(InterfaceEndpointServices, ", "))
		}
	}
	if err := retention("network.flowLogRetentionDays", n.FlowLogRetentionDays); err != nil {
		return err
	}
	return nil
}

func (c Config) validateDatabase() error {
	d := c.Database
	versions, ok := engineVersions[d.Engine]
	if !ok {
		return keyErr("database.engine", "%q is not a supported engine; accepts mariadb or mysql", d.Engine)
	}
	if _, ok := versions[d.EngineVersion]; !ok {
		return keyErr("database.engineVersion", "%q is not a supported %s major version; accepts %s", d.EngineVersion, d.Engine, strings.Join(keys(versions), " or "))
	}
	if !dbClassPattern.MatchString(d.InstanceClass) {
		return keyErr("database.instanceClass", "%q is not a known RDS instance class; accepts db.<family>.<size> with family t4g, m6g, m7g, m8g, r6g, r7g, r8g, t3, m6i, m7i, r6i or r7i", d.InstanceClass)
	}
	if d.AllocatedStorageGiB < 20 || d.AllocatedStorageGiB > 65536 {
		return keyErr("database.allocatedStorageGiB", "%d is out of range; accepts 20 to 65536", d.AllocatedStorageGiB)
	}
	if d.MaxStorageGiB < d.AllocatedStorageGiB {
		return keyErr("database.maxStorageGiB", "%d is below allocatedStorageGiB (%d); accepts a value at least that large", d.MaxStorageGiB, d.AllocatedStorageGiB)
	}
	minBackup := 1
	if c.Profile == "prod" {
		minBackup = 14
	}
	if d.BackupRetentionDays < minBackup || d.BackupRetentionDays > 35 {
		return keyErr("database.backupRetentionDays", "%d is out of range for a %s stack; accepts %d to 35", d.BackupRetentionDays, c.Profile, minBackup)
	}
	if c.Profile == "prod" {
		switch {
		case !d.MultiAZ:
			return keyErr("database.multiAz", "false is not allowed in a prod stack; accepts true")
		case !d.DeletionProtection:
			return keyErr("database.deletionProtection", "false is not allowed in a prod stack; accepts true")
		case !d.FinalSnapshot:
			return keyErr("database.finalSnapshot", "false is not allowed in a prod stack; accepts true")
		}
	}
	if d.PerformanceInsights && noInsights.MatchString(d.InstanceClass) {
		return keyErr("database.performanceInsights", "true is not supported on %s (RDS offers Performance Insights for MariaDB and MySQL on neither micro nor small burstable classes); accepts false, or db.t4g.medium or larger", d.InstanceClass)
	}
	if !maintenancePattern.MatchString(d.MaintenanceWindow) {
		return keyErr("database.maintenanceWindow", "%q is not a maintenance window; accepts ddd:hh24:mi-ddd:hh24:mi in UTC, e.g. sun:05:00-sun:06:00", d.MaintenanceWindow)
	}
	if !backupPattern.MatchString(d.BackupWindow) {
		return keyErr("database.backupWindow", "%q is not a backup window; accepts hh24:mi-hh24:mi in UTC, e.g. 03:00-04:00", d.BackupWindow)
	}
	if err := checkWindows(d.MaintenanceWindow, d.BackupWindow); err != nil {
		return err
	}
	if d.FinalSnapshotName != "" && !snapshotPattern.MatchString(d.FinalSnapshotName) {
		return keyErr("database.finalSnapshotName", "%q is not a snapshot identifier; accepts a letter then letters, digits or single hyphens, not ending in a hyphen", d.FinalSnapshotName)
	}
	if id := c.DatabaseIdentifier(); len(id) > 63 || !dbIdentifierPattern.MatchString(id) {
		return keyErr("database.identifier", "%q is not a DB instance identifier; accepts up to 63 lower-case letters, digits or single hyphens, starting with a letter and not ending in a hyphen", id)
	}
	if err := retention("database.logRetentionDays", d.LogRetentionDays); err != nil {
		return err
	}
	if !identifierPattern.MatchString(d.Name) {
		return keyErr("database.name", "%q is not a database name; accepts a letter then up to 15 letters, digits or underscores", d.Name)
	}
	if !identifierPattern.MatchString(d.MasterUsername) {
		return keyErr("database.masterUsername", "%q is not a user name; accepts a letter then up to 15 letters, digits or underscores", d.MasterUsername)
	}
	if !processorUserPattern.MatchString(d.ProcessorUsername) || d.ProcessorUsername == d.MasterUsername {
		return keyErr("database.processorUsername", "%q is not the processor's own user name; accepts a letter then up to 31 letters, digits or underscores (MySQL's 32), different from masterUsername", d.ProcessorUsername)
	}
	return nil
}

func (c Config) validateCache() error {
	k := c.Cache
	if !cacheNodePattern.MatchString(k.NodeType) {
		return keyErr("cache.nodeType", "%q is not a known ElastiCache node type; accepts cache.<family>.<size> with family t4g, m6g, m7g, r6g or r7g", k.NodeType)
	}
	if !contains([]string{"7.0", "7.1"}, k.EngineVersion) {
		return keyErr("cache.engineVersion", "%q is not a supported Redis version; accepts 7.0 or 7.1", k.EngineVersion)
	}
	if k.Replicas < 0 || k.Replicas > 5 {
		return keyErr("cache.replicas", "%d is out of range; accepts 0 to 5", k.Replicas)
	}
	if c.Profile == "prod" && k.Replicas < 1 {
		return keyErr("cache.replicas", "%d leaves a prod stack without failover; accepts 1 to 5", k.Replicas)
	}
	if k.Replicas > 0 && len(c.Network.AZs) < 2 {
		return keyErr("cache.replicas", "a replica needs two AZs for Multi-AZ; accepts 0 with one AZ")
	}
	if k.SnapshotRetentionDays < 1 || k.SnapshotRetentionDays > 35 {
		return keyErr("cache.snapshotRetentionDays", "%d is out of range; accepts 1 to 35", k.SnapshotRetentionDays)
	}
	return nil
}

func (c Config) validateBroker() error {
	b := c.Broker
	if b.Nodes != 1 && b.Nodes != 3 {
		return keyErr("broker.nodes", "%d is not a supported size; accepts 1 (one instance) or 3 (a quorum cluster)", b.Nodes)
	}
	if !gravitonPattern.MatchString(b.InstanceType) {
		return keyErr("broker.instanceType", "%q is not a Graviton instance type; accepts <family>.<size> with family t4g, m6g, m7g, m8g, c6g, c7g, c8g, r6g, r7g or r8g", b.InstanceType)
	}
	if !ssmParamPattern.MatchString(b.AMIParameter) || !strings.Contains(b.AMIParameter, "arm64") {
		return keyErr("broker.amiParameter", "%q is not a public arm64 AMI parameter; accepts a path such as /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64", b.AMIParameter)
	}
	if b.DataVolumeGiB < 8 || b.DataVolumeGiB > 16384 {
		return keyErr("broker.dataVolumeGiB", "%d is out of range; accepts 8 to 16384", b.DataVolumeGiB)
	}
	if _, err := bootstrap.ImageVersion(b.Image); err != nil {
		return keyErr("broker.image", "%q is not the official RabbitMQ 4.x image pinned by digest; accepts docker.io/library/rabbitmq:4.<minor>.<patch>-management@sha256:<64 hex digits> (default %s)", b.Image, bootstrap.DefaultImage)
	}
	if err := retention("broker.logRetentionDays", b.LogRetentionDays); err != nil {
		return err
	}
	if !vhostPattern.MatchString(b.Vhost) {
		return keyErr("broker.vhost", "%q is not a vhost name; accepts 1 to 64 letters, digits, '.', '_' or '-'", b.Vhost)
	}
	if b.DeliveryLimit < 1 || b.DeliveryLimit > 1000 {
		return keyErr("broker.deliveryLimit", "%d is out of range; accepts 1 to 1000", b.DeliveryLimit)
	}
	if err := validateCredentials(b.Credentials); err != nil {
		return err
	}
	return validatePrometheusSources(b.PrometheusSources)
}

// validateCredentials: every key of broker.credentials is a role, every
// value a or b.
func validateCredentials(creds map[topology.Role]topology.Credential) error {
	var roles []string
	for _, r := range topology.Roles {
		roles = append(roles, string(r))
	}
	set := make([]topology.Role, 0, len(creds))
	for r := range creds {
		set = append(set, r)
	}
	sort.Slice(set, func(i, j int) bool { return set[i] < set[j] }) // a stable message
	for _, r := range set {
		if !contains(topology.Roles, r) {
			return keyErr("broker.credentials", "%q is not a broker role; accepts %s", r, strings.Join(roles, ", "))
		}
		if !contains(topology.Credentials, creds[r]) {
			return keyErr("broker.credentials."+string(r), "%q is not a credential; accepts a or b (default a)", creds[r])
		}
	}
	return nil
}

// securityGroupPattern is an EC2 security group id.
var securityGroupPattern = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)

// privateNets are the RFC 1918 ranges: the nodes are in private subnets,
// so a scraper reaches them from the VPC or a peered or attached private
// network, never from a public address.
var privateNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16")}

func validatePrometheusSources(sources []string) error {
	const key, accepts = "broker.prometheusSources", "accepts private IPv4 CIDRs inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 written as their network address (10.40.0.0/16), or security group ids (sg-0123456789abcdef0), at most 10"
	if len(sources) > 10 {
		return keyErr(key, "%d sources; %s", len(sources), accepts)
	}
	seen := map[string]bool{}
	for _, s := range sources {
		if seen[s] {
			return keyErr(key, "%q is listed twice", s)
		}
		seen[s] = true
		if securityGroupPattern.MatchString(s) {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() || p.Masked() != p {
			return keyErr(key, "%q is neither a CIDR nor a security group id; %s", s, accepts)
		}
		inside := false
		for _, n := range privateNets {
			inside = inside || (n.Bits() <= p.Bits() && n.Contains(p.Addr()))
		}
		if !inside {
			return keyErr(key, "%q is not a private range: the nodes have no public address; %s", s, accepts)
		}
	}
	return nil
}

func (c Config) validateSecrets() error {
	s := c.Secrets
	required := []struct {
		key, value, accepts string
	}{
		{"cacheAuthToken", s.CacheAuthToken, "16 to 128 characters: letters, digits and ! & # $ ^ < > -"},
		{"webhookSources", s.WebhookSources, "the sources document, YAML or JSON: `pulumi config set --secret hookline:webhookSources < sources.yaml`"},
		{"databaseProcessorPassword", s.DatabaseProcessorPassword, "32 to 128 printable characters without quotes, backslashes or spaces, e.g. `openssl rand -hex 24`"},
	}
	// Both credentials of every role: the broker has both users always.
	for _, r := range topology.Roles {
		for _, cred := range topology.Credentials {
			required = append(required, struct{ key, value, accepts string }{BrokerPasswordKey(r, cred), s.BrokerPassword(r, cred), "at least 16 characters"})
		}
	}
	if c.Broker.Nodes > 1 {
		required = append(required, struct{ key, value, accepts string }{"brokerErlangCookie", s.BrokerErlangCookie, "20 to 255 letters and digits"})
	}
	for _, r := range required {
		if r.value == "" {
			return keyErr(r.key, "required secret is missing; set it with `pulumi config set --secret %s:%s <value>` (accepts %s)", Namespace, r.key, r.accepts)
		}
	}
	if !authTokenPattern.MatchString(s.CacheAuthToken) {
		return keyErr("cacheAuthToken", "the secret is not a valid AUTH token; accepts 16 to 128 characters: letters, digits and ! & # $ ^ < > -")
	}
	for _, r := range topology.Roles {
		for _, cred := range topology.Credentials {
			if v := s.BrokerPassword(r, cred); len(v) < 16 || strings.ContainsAny(v, "'\"\\ \n") {
				return keyErr(BrokerPasswordKey(r, cred), "the secret is too weak or has quotes, backslashes or spaces; accepts at least 16 characters without them")
			}
		}
	}
	if p := s.DatabaseProcessorPassword; len(p) < 32 || len(p) > 128 || !printableNoQuotes.MatchString(p) {
		return keyErr("databaseProcessorPassword", "the secret is too short, too long or has quotes, backslashes, spaces or control characters; accepts 32 to 128 printable characters without them (`openssl rand -hex 24`)")
	}
	if c.Broker.Nodes > 1 && !regexp.MustCompile(`^[A-Za-z0-9]{20,255}$`).MatchString(s.BrokerErlangCookie) {
		return keyErr("brokerErlangCookie", "the secret is not a valid Erlang cookie; accepts 20 to 255 letters and digits")
	}
	if e := c.Alarms.PagerDutyEndpoint; e != "" && !pagerDutyPattern.MatchString(e) {
		return keyErr("pagerDutyEndpoint", "the secret is not a PagerDuty CloudWatch integration URL; accepts https://events.pagerduty.com/integration/<key>/enqueue")
	}
	return nil
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// small maps: keep the message stable
	if len(out) == 2 && out[0] > out[1] {
		out[0], out[1] = out[1], out[0]
	}
	return out
}

// retentionDays are the retention periods CloudWatch Logs accepts.
var retentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

func retention(key string, days int) error {
	if !contains(retentionDays, days) {
		return keyErr(key, "%d is not a CloudWatch Logs retention; accepts 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653", days)
	}
	return nil
}

// fargateMemory are the memory sizes (MiB) Fargate accepts per CPU size.
func fargateMemory(cpu int) (lo, hi, step int, ok bool) {
	switch cpu {
	case 256:
		return 512, 2048, 512, true // 512, 1024, 2048 (1536 is refused below)
	case 512:
		return 1024, 4096, 1024, true
	case 1024:
		return 2048, 8192, 1024, true
	case 2048:
		return 4096, 16384, 1024, true
	case 4096:
		return 8192, 30720, 1024, true
	}
	return 0, 0, 0, false
}

func (c Config) validateProcessor() error {
	p := c.Processor
	lo, hi, step, ok := fargateMemory(p.CPU)
	if !ok {
		return keyErr("processor.cpu", "%d is not a Fargate CPU size; accepts 256, 512, 1024, 2048 or 4096", p.CPU)
	}
	if p.MemoryMiB < lo || p.MemoryMiB > hi || (p.MemoryMiB-lo)%step != 0 || (p.CPU == 256 && p.MemoryMiB == 1536) {
		return keyErr("processor.memoryMiB", "%d does not fit %d CPU units on Fargate; accepts %d to %d in steps of %d", p.MemoryMiB, p.CPU, lo, hi, step)
	}
	minTasks := 1
	if c.Profile == "prod" {
		minTasks = 2
	}
	if p.MinTasks < minTasks || p.MinTasks > 100 {
		return keyErr("processor.minTasks", "%d is out of range for a %s stack; accepts %d to 100", p.MinTasks, c.Profile, minTasks)
	}
	if p.MaxTasks < p.MinTasks || p.MaxTasks > 100 {
		return keyErr("processor.maxTasks", "%d is out of range; accepts minTasks (%d) to 100", p.MaxTasks, p.MinTasks)
	}
	for _, st := range []struct {
		key string
		v   int
	}{{"backlogStep", p.BacklogStep}, {"cpu80Step", p.CPU80Step}, {"cpu90Step", p.CPU90Step}} {
		if st.v < 1 || st.v > p.MaxTasks-p.MinTasks && p.MaxTasks > p.MinTasks {
			return keyErr("processor."+st.key, "%d is out of range; accepts 1 to maxTasks - minTasks (%d)", st.v, p.MaxTasks-p.MinTasks)
		}
	}
	if p.ScaleOutCooldownSeconds < 60 || p.ScaleOutCooldownSeconds > 3600 {
		return keyErr("processor.scaleOutCooldownSeconds", "%d is out of range; accepts 60 to 3600 (a new task needs a minute or two before it shows in the metrics)", p.ScaleOutCooldownSeconds)
	}
	if p.ScaleInCooldownSeconds < 60 || p.ScaleInCooldownSeconds > 3600 {
		return keyErr("processor.scaleInCooldownSeconds", "%d is out of range; accepts 60 to 3600", p.ScaleInCooldownSeconds)
	}
	if p.Prefetch < 1 || p.Prefetch > 2000 {
		return keyErr("processor.prefetch", "%d is out of range; accepts 1 to 2000 (quorum queues cap prefetch at 2000)", p.Prefetch)
	}
	if p.Concurrency < 1 || p.Concurrency > 256 {
		return keyErr("processor.concurrency", "%d is out of range; accepts 1 to 256", p.Concurrency)
	}
	if p.StopTimeoutSeconds < 10 || p.StopTimeoutSeconds > 120 {
		return keyErr("processor.stopTimeoutSeconds", "%d is out of range; accepts 10 to 120 (Fargate's maximum); SHUTDOWN_TIMEOUT is %d s less", p.StopTimeoutSeconds, ShutdownGraceSeconds)
	}
	return retention("processor.logRetentionDays", p.LogRetentionDays)
}

func (c Config) validateReceiver() error {
	r := c.Receiver
	if r.MemoryMiB < 128 || r.MemoryMiB > 10240 {
		return keyErr("receiver.memoryMiB", "%d is out of range; accepts 128 to 10240", r.MemoryMiB)
	}
	if r.ReservedConcurrency != -1 && (r.ReservedConcurrency < 1 || r.ReservedConcurrency > 10000) {
		return keyErr("receiver.reservedConcurrency", "%d is out of range; accepts 1 to 10000, or -1 for no reservation (0 would throttle every request)", r.ReservedConcurrency)
	}
	if r.TimeoutSeconds < 3 || r.TimeoutSeconds > 29 {
		return keyErr("receiver.timeoutSeconds", "%d is out of range; accepts 3 to 29 (under API Gateway's 30 s integration timeout)", r.TimeoutSeconds)
	}
	return retention("receiver.logRetentionDays", r.LogRetentionDays)
}

var digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)

func (c Config) validateImages() error {
	for _, d := range []struct{ key, value string }{
		{"processorImageDigest", c.Images.Processor},
		{"migrationImageDigest", c.Images.Migration},
	} {
		if d.value != "" && !digestPattern.MatchString(d.value) {
			return keyErr(d.key, "%q is not an image digest; accepts sha256:<64 hex digits>, as `make deploy` sets it", d.value)
		}
	}
	return nil
}

// checkWindows refuses what RDS refuses at apply time: a maintenance or
// backup window under 30 minutes, or a daily backup window that overlaps
// the weekly maintenance window (the RDS API reference, CreateDBInstance
// PreferredBackupWindow and PreferredMaintenanceWindow). Both are already
// well-formed.
func checkWindows(maintenance, backup string) error {
	const day, week = 24 * 60, 7 * 24 * 60
	days := map[string]int{"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
	clock := func(hm string) int {
		var h, m int
		_, _ = fmt.Sscanf(hm, "%d:%d", &h, &m) // well-formed already: hh:mm
		return h*60 + m
	}
	start, end, _ := strings.Cut(maintenance, "-")
	ms := days[start[:3]]*day + clock(start[4:])
	me := days[end[:3]]*day + clock(end[4:])
	if me <= ms {
		me += week
	}
	if me-ms < 30 {
		return keyErr("database.maintenanceWindow", "%q is shorter than 30 minutes; accepts a window of at least 30 minutes", maintenance)
	}
	from, to, _ := strings.Cut(backup, "-")
	bs, be := clock(from), clock(to)
	if be <= bs {
		be += day
	}
	if be-bs < 30 {
		return keyErr("database.backupWindow", "%q is shorter than 30 minutes; accepts a window of at least 30 minutes", backup)
	}
	// The backup window recurs daily: compare each day's (the day before
	// Monday included) with the maintenance window, and with the same
	// window a week earlier (one running from Sunday into Monday).
	for d := -1; d < 7; d++ {
		s, e := d*day+bs, d*day+be
		for _, shift := range []int{0, -week} {
			if s < me+shift && ms+shift < e {
				return keyErr("database.backupWindow", "%q overlaps the maintenance window %q; accepts a daily window outside it", backup, maintenance)
			}
		}
	}
	return nil
}

func (c Config) validateCanary() error {
	k := c.Canary
	if k.IntervalMinutes < 1 || k.IntervalMinutes > 60 {
		return keyErr("canary.intervalMinutes", "%d is out of range; accepts 1 to 60", k.IntervalMinutes)
	}
	if k.TimeoutSeconds < 1 || k.TimeoutSeconds > 60 {
		return keyErr("canary.timeoutSeconds", "%d is out of range; accepts 1 to 60", k.TimeoutSeconds)
	}
	if err := retention("canary.logRetentionDays", k.LogRetentionDays); err != nil {
		return err
	}
	// CloudWatch: EvaluationPeriods times Period at most one day.
	if p := c.Alarms.CanaryPeriods; p != float64(int(p)) || int(p)*k.IntervalMinutes > 24*60 {
		return keyErr("alarms.canaryPeriods", "%v is not a whole number of canary intervals within a day; accepts 1 to %d with canary.intervalMinutes %d", p, 24*60/k.IntervalMinutes, k.IntervalMinutes)
	}
	if c.CanaryOn() && c.Secrets.CanarySecret == "" {
		return keyErr("canarySecret", "required secret is missing with the canary on and hookline:edge set; set it with `pulumi config set --secret %s:canarySecret \"whsec_$(openssl rand -base64 32)\"` (or set %s:canary.enabled false)", Namespace, Namespace)
	}
	return nil
}
