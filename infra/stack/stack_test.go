package stack_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/hookline/hookline/infra/plan"
)

// Tiers and routes: public subnets reach the internet gateway, each compute
// subnet goes out through a NAT gateway (its own AZ's where there is one),
// database subnets have no route out at all.
func TestTiersAndRoutes(t *testing.T) {
	want := map[string]struct{ azs, nats int }{"dev": {2, 1}, "prod": {3, 3}, "prod-cluster": {3, 3}}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		sn := subnets(r)
		w := want[v.name]
		for _, tier := range []string{"public", "compute", "database"} {
			if got := len(tierIDs(r, tier)); got != w.azs {
				t.Errorf("%d %s subnets; want one in each of %d AZs", got, tier, w.azs)
			}
		}
		for _, s := range r.OfType("aws:ec2/subnet:Subnet") {
			if s.Bool("mapPublicIpOnLaunch") {
				t.Errorf("subnet %s maps public IPs on launch", s.Name)
			}
		}
		nats := r.OfType("aws:ec2/natGateway:NatGateway")
		if len(nats) != w.nats {
			t.Fatalf("%d NAT gateways; want %d", len(nats), w.nats)
		}
		natAZ := map[string]string{}
		for _, n := range nats {
			s, ok := sn[n.Str("subnetId")]
			if !ok || s.tier != "public" {
				t.Errorf("NAT %s is in subnet %q, not a public one", n.Name, n.Str("subnetId"))
			}
			natAZ[n.ID()] = s.az
		}

		// Route table of each subnet, through its association.
		rtOf := map[string]string{}
		for _, a := range r.OfType("aws:ec2/routeTableAssociation:RouteTableAssociation") {
			if _, dup := rtOf[a.Str("subnetId")]; dup {
				t.Errorf("subnet %s has two route table associations", a.Str("subnetId"))
			}
			rtOf[a.Str("subnetId")] = a.Str("routeTableId")
		}
		routes := map[string][]plan.Resource{}
		for _, rt := range r.OfType("aws:ec2/route:Route") {
			routes[rt.Str("routeTableId")] = append(routes[rt.Str("routeTableId")], rt)
		}
		for _, rt := range r.OfType("aws:ec2/routeTable:RouteTable") {
			if rt.Has("routes") && len(rt.Input("routes").([]any)) > 0 {
				t.Errorf("route table %s has inline routes; every route is its own resource here", rt.Name)
			}
		}
		azsWithNat := map[string]bool{}
		for _, az := range natAZ {
			azsWithNat[az] = true
		}
		for id, s := range sn {
			table, ok := rtOf[id]
			if !ok {
				t.Errorf("%s subnet %s has no route table association (would use the main table)", s.tier, id)
				continue
			}
			rs := routes[table]
			switch s.tier {
			case "database":
				if len(rs) != 0 {
					t.Errorf("database subnet %s (%s) has routes %v; want none beyond local", id, s.az, names(rs))
				}
			case "public":
				if len(rs) != 1 || rs[0].Str("destinationCidrBlock") != "0.0.0.0/0" || !strings.HasPrefix(rs[0].Str("gatewayId"), "internetgateway-") {
					t.Errorf("public subnet %s: routes %v; want one default route to the internet gateway", id, names(rs))
				}
			case "compute":
				if len(rs) != 1 || rs[0].Str("destinationCidrBlock") != "0.0.0.0/0" || rs[0].Str("natGatewayId") == "" || rs[0].Has("gatewayId") {
					t.Errorf("compute subnet %s: routes %v; want one default route through a NAT gateway", id, names(rs))
					continue
				}
				nat := rs[0].Str("natGatewayId")
				if azsWithNat[s.az] && natAZ[nat] != s.az {
					t.Errorf("compute subnet in %s goes out through the NAT in %s; want its own AZ's", s.az, natAZ[nat])
				}
			default:
				t.Errorf("subnet %s has tier %q", id, s.tier)
			}
		}
	})
}

// No public data store: RDS is not publicly accessible and sits, like Redis,
// only in database subnets; the only Elastic IPs are the NAT gateways'.
func TestNoPublicDataStore(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		db := tierIDs(r, "database")
		compute := tierIDs(r, "compute")
		for _, i := range r.OfType("aws:rds/instance:Instance") {
			if !i.Has("publiclyAccessible") || i.Bool("publiclyAccessible") {
				t.Errorf("RDS %s: publiclyAccessible %v; want false, explicitly", i.Name, i.Input("publiclyAccessible"))
			}
		}
		for _, typ := range []string{"aws:rds/subnetGroup:SubnetGroup", "aws:elasticache/subnetGroup:SubnetGroup"} {
			groups := r.OfType(typ)
			if len(groups) != 1 {
				t.Fatalf("%d %s; want 1", len(groups), typ)
			}
			ids := groups[0].Strs("subnetIds")
			if len(ids) != len(db) {
				t.Errorf("%s spans %d subnets; want the %d database subnets", typ, len(ids), len(db))
			}
			for _, id := range ids {
				if !db[id] {
					t.Errorf("%s includes %s, not a database subnet", typ, id)
				}
			}
		}
		for _, eni := range r.OfType("aws:ec2/networkInterface:NetworkInterface") {
			if !compute[eni.Str("subnetId")] {
				t.Errorf("broker interface %s is in %s, not a compute subnet", eni.Name, eni.Str("subnetId"))
			}
		}
		if eips, nats := len(r.OfType("aws:ec2/eip:Eip")), len(r.OfType("aws:ec2/natGateway:NatGateway")); eips != nats {
			t.Errorf("%d Elastic IPs for %d NAT gateways; nothing else may have a public address", eips, nats)
		}
		for _, res := range r.OfType("aws:ec2/eipAssociation:EipAssociation") {
			t.Errorf("Elastic IP association %s exposes an instance", res.Name)
		}
		for _, lt := range r.OfType("aws:ec2/launchTemplate:LaunchTemplate") {
			if lt.Has("networkInterfaces") {
				for _, ni := range lt.Input("networkInterfaces").([]any) {
					if m := ni.(map[string]any); m["associatePublicIpAddress"] == "true" {
						t.Errorf("launch template %s asks for a public IP", lt.Name)
					}
				}
			}
		}
	})
}

// Encryption everywhere: at rest with customer-managed, rotating keys, in
// transit where the store speaks TLS, secrets only as secrets.
func TestEncryption(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		keys := map[string]bool{}
		for _, k := range r.OfType("aws:kms/key:Key") {
			keys[fmt.Sprintf("arn:aws:kms:us-east-1:123456789012:%s", k.Name)] = true
			if !k.Bool("enableKeyRotation") {
				t.Errorf("KMS key %s does not rotate", k.Name)
			}
			if k.Int("deletionWindowInDays") < 30 {
				t.Errorf("KMS key %s: deletion window %d days; want 30", k.Name, k.Int("deletionWindowInDays"))
			}
		}
		cmk := func(what, arn string) {
			if !keys[arn] {
				t.Errorf("%s is encrypted with %q, not one of the stack's customer-managed keys", what, arn)
			}
		}
		for _, i := range r.OfType("aws:rds/instance:Instance") {
			if !i.Bool("storageEncrypted") {
				t.Errorf("RDS %s storage not encrypted", i.Name)
			}
			cmk("RDS storage", i.Str("kmsKeyId"))
			if !i.Bool("manageMasterUserPassword") || i.Has("password") {
				t.Errorf("RDS %s: master password not managed by RDS in Secrets Manager", i.Name)
			}
			cmk("RDS master secret", i.Str("masterUserSecretKmsKeyId"))
			if i.Bool("performanceInsightsEnabled") {
				cmk("Performance Insights", i.Str("performanceInsightsKmsKeyId"))
			}
		}
		for _, pg := range r.OfType("aws:rds/parameterGroup:ParameterGroup") {
			found := false
			for _, p := range pg.Input("parameters").([]any) {
				m := p.(map[string]any)
				if m["name"] == "require_secure_transport" && m["value"] == "1" {
					found = true
				}
			}
			if !found {
				t.Errorf("parameter group %s does not force TLS (require_secure_transport=1)", pg.Name)
			}
		}
		for _, g := range r.OfType("aws:elasticache/replicationGroup:ReplicationGroup") {
			if !g.Bool("atRestEncryptionEnabled") || !g.Bool("transitEncryptionEnabled") {
				t.Errorf("Redis %s: at rest %v, in transit %v; want both", g.Name, g.Input("atRestEncryptionEnabled"), g.Input("transitEncryptionEnabled"))
			}
			cmk("Redis", g.Str("kmsKeyId"))
			if !g.IsSecret("authToken") {
				t.Errorf("Redis %s AUTH token is not a secret", g.Name)
			}
		}
		for _, s := range r.OfType("aws:secretsmanager/secret:Secret") {
			cmk("secret "+s.Name, s.Str("kmsKeyId"))
		}
		for _, s := range r.OfType("aws:secretsmanager/secretVersion:SecretVersion") {
			if !s.IsSecret("secretString") {
				t.Errorf("secret version %s carries its value in clear", s.Name)
			}
		}
		for _, vol := range r.OfType("aws:ebs/volume:Volume") {
			if !vol.Bool("encrypted") || vol.Str("type") != "gp3" {
				t.Errorf("volume %s: encrypted %v, type %q; want encrypted gp3", vol.Name, vol.Input("encrypted"), vol.Str("type"))
			}
			cmk("volume "+vol.Name, vol.Str("kmsKeyId"))
		}
		for _, lt := range r.OfType("aws:ec2/launchTemplate:LaunchTemplate") {
			bdm := lt.Input("blockDeviceMappings").([]any)
			if len(bdm) == 0 {
				t.Errorf("launch template %s leaves the root volume to the AMI's defaults", lt.Name)
			}
			for _, b := range bdm {
				ebs := b.(map[string]any)["ebs"].(map[string]any)
				if ebs["encrypted"] != "true" {
					t.Errorf("launch template %s: root volume not encrypted", lt.Name)
				}
				cmk("root volume", fmt.Sprint(ebs["kmsKeyId"]))
			}
		}
		// No secret value anywhere in the plan.
		b, err := json.Marshal(r.File())
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), plan.Placeholder) {
			t.Errorf("a secret value reached the plan in clear")
		}
	})
}

// IMDSv2 only, no key pair, no SSH: every instance comes from a launch
// template that requires session tokens.
func TestInstancesIMDSv2NoKeyPair(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		lts := map[string]plan.Resource{}
		for _, lt := range r.OfType("aws:ec2/launchTemplate:LaunchTemplate") {
			lts[lt.ID()] = lt
			if lt.Str("metadataOptions", "httpTokens") != "required" || lt.Int("metadataOptions", "httpPutResponseHopLimit") != 1 {
				t.Errorf("launch template %s: metadata options %v; want httpTokens required, hop limit 1", lt.Name, lt.Input("metadataOptions"))
			}
			if lt.Has("keyName") {
				t.Errorf("launch template %s has a key pair", lt.Name)
			}
			if !strings.HasPrefix(lt.Str("imageId"), "resolve:ssm:/aws/service/") || !strings.Contains(lt.Str("imageId"), "arm64") {
				t.Errorf("launch template %s image %q; want a public arm64 SSM parameter", lt.Name, lt.Str("imageId"))
			}
		}
		// Access is through SSM Session Manager: the nodes' role has the
		// managed SSM policy (and no port 22 anywhere, see the SG graph).
		ssm := false
		for _, a := range r.OfType("aws:iam/rolePolicyAttachment:RolePolicyAttachment") {
			if a.Str("policyArn") == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" {
				ssm = true
			}
		}
		if !ssm {
			t.Errorf("no role has AmazonSSMManagedInstanceCore: the broker could not be reached without SSH")
		}
		instances := r.OfType("aws:ec2/instance:Instance")
		if len(instances) != nodes[v.name] {
			t.Errorf("%d broker instances; want %d", len(instances), nodes[v.name])
		}
		for _, i := range instances {
			if _, ok := lts[i.Str("launchTemplate", "id")]; !ok {
				t.Errorf("instance %s is not launched from one of the launch templates", i.Name)
			}
			if i.Has("keyName") || i.Has("metadataOptions") || i.Has("ami") || i.Has("userData") {
				t.Errorf("instance %s overrides its launch template (key, metadata, AMI or user data)", i.Name)
			}
		}
	})
}

// The broker's address and data outlive the instance: a separate interface
// and volume in the instance's AZ, the instance replaced delete-first, and
// alarms that recover or reboot it.
func TestBrokerSurvivesReplacement(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		sn := subnets(r)
		enis := map[string]plan.Resource{}
		for _, e := range r.OfType("aws:ec2/networkInterface:NetworkInterface") {
			enis[e.ID()] = e
		}
		vols := map[string]plan.Resource{}
		for _, vol := range r.OfType("aws:ebs/volume:Volume") {
			vols[vol.ID()] = vol
		}
		attached := map[string]string{} // instance ID → volume ID
		for _, a := range r.OfType("aws:ec2/volumeAttachment:VolumeAttachment") {
			attached[a.Str("instanceId")] = a.Str("volumeId")
		}
		alarms := map[string][]string{} // instance ID → actions of its status check alarms
		for _, a := range r.OfType("aws:cloudwatch/metricAlarm:MetricAlarm") {
			if !strings.HasPrefix(a.Str("metricName"), "StatusCheckFailed") {
				continue // the CPU alarm pages (infra/alarms)
			}
			id := a.Str("dimensions", "InstanceId")
			alarms[id] = append(alarms[id], a.Strs("alarmActions")...)
		}
		azs := map[string]bool{}
		for _, i := range r.OfType("aws:ec2/instance:Instance") {
			if !i.DeleteBeforeReplace {
				t.Errorf("instance %s is not replaced delete-first; its interface could not move", i.Name)
			}
			nis := i.Input("networkInterfaces").([]any)
			if len(nis) != 1 {
				t.Fatalf("instance %s has %d interfaces", i.Name, len(nis))
			}
			eni, ok := enis[fmt.Sprint(nis[0].(map[string]any)["networkInterfaceId"])]
			if !ok {
				t.Errorf("instance %s does not use a separately declared interface", i.Name)
				continue
			}
			az := sn[eni.Str("subnetId")].az
			azs[az] = true
			vol, ok := vols[attached[i.ID()]]
			if !ok {
				t.Errorf("instance %s has no separately declared data volume attached", i.Name)
				continue
			}
			if vol.Str("availabilityZone") != az {
				t.Errorf("instance %s: data volume in %s, interface in %s", i.Name, vol.Str("availabilityZone"), az)
			}
			sort.Strings(alarms[i.ID()])
			want := []string{"arn:aws:automate:us-east-1:ec2:reboot", "arn:aws:automate:us-east-1:ec2:recover"}
			if strings.Join(alarms[i.ID()], " ") != strings.Join(want, " ") {
				t.Errorf("instance %s alarm actions %v; want %v", i.Name, alarms[i.ID()], want)
			}
		}
		if n := len(r.OfType("aws:ec2/instance:Instance")); n > 1 && len(azs) != n {
			t.Errorf("%d cluster nodes in %d AZs; want one per AZ", n, len(azs))
		}
	})
}

// Multi-AZ, backups, deletion protection and failover per the stack table.
func TestDurabilityPerStack(t *testing.T) {
	type want struct {
		multiAZ, deletion, finalSnap, pi bool
		minBackup, maxBackup             int
		cacheNodes                       int
		failover                         bool
	}
	table := map[string]want{
		"dev":          {false, false, false, false, 1, 1, 1, false},
		"prod":         {true, true, true, true, 14, 35, 2, true},
		"prod-cluster": {true, true, true, true, 14, 35, 2, true},
	}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		w := table[v.name]
		dbs := r.OfType("aws:rds/instance:Instance")
		if len(dbs) != 1 {
			t.Fatalf("%d RDS instances; want 1", len(dbs))
		}
		db := dbs[0]
		if db.Bool("multiAz") != w.multiAZ || db.Bool("deletionProtection") != w.deletion || db.Bool("performanceInsightsEnabled") != w.pi {
			t.Errorf("RDS multiAz %v deletionProtection %v PI %v; want %v %v %v",
				db.Bool("multiAz"), db.Bool("deletionProtection"), db.Bool("performanceInsightsEnabled"), w.multiAZ, w.deletion, w.pi)
		}
		if b := db.Int("backupRetentionPeriod"); b < w.minBackup || b > w.maxBackup {
			t.Errorf("RDS backups kept %d days; want %d to %d", b, w.minBackup, w.maxBackup)
		}
		if db.Bool("skipFinalSnapshot") == w.finalSnap || (w.finalSnap && db.Str("finalSnapshotIdentifier") == "") {
			t.Errorf("RDS skipFinalSnapshot %v, finalSnapshotIdentifier %q; want a final snapshot: %v", db.Bool("skipFinalSnapshot"), db.Str("finalSnapshotIdentifier"), w.finalSnap)
		}
		if db.Str("engine") != "mariadb" || db.Str("engineVersion") != "10.11" || !db.Bool("copyTagsToSnapshot") || !db.Bool("autoMinorVersionUpgrade") {
			t.Errorf("RDS engine %s %s, copyTagsToSnapshot %v, autoMinorVersionUpgrade %v", db.Str("engine"), db.Str("engineVersion"), db.Input("copyTagsToSnapshot"), db.Input("autoMinorVersionUpgrade"))
		}
		g := r.OfType("aws:elasticache/replicationGroup:ReplicationGroup")[0]
		if g.Int("numCacheClusters") != w.cacheNodes || g.Bool("automaticFailoverEnabled") != w.failover || g.Bool("multiAzEnabled") != w.failover {
			t.Errorf("Redis %d nodes, failover %v, Multi-AZ %v; want %d, %v, %v",
				g.Int("numCacheClusters"), g.Bool("automaticFailoverEnabled"), g.Bool("multiAzEnabled"), w.cacheNodes, w.failover, w.failover)
		}
		if g.Int("snapshotRetentionLimit") < 1 || !g.Bool("autoMinorVersionUpgrade") {
			t.Errorf("Redis snapshots kept %d days, autoMinorVersionUpgrade %v; want at least 1 and true", g.Int("snapshotRetentionLimit"), g.Input("autoMinorVersionUpgrade"))
		}
	})
}

// Flow logs and endpoints: every VPC logs all traffic with retention; prod
// gets the interface endpoints it lists, dev none; S3 is a gateway endpoint
// on every compute route table.
func TestFlowLogsAndEndpoints(t *testing.T) {
	wantEndpoints := map[string]int{"dev": 0, "prod": 7, "prod-cluster": 7}
	wantRetention := map[string]int{"dev": 30, "prod": 365, "prod-cluster": 365}
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		vpcs := r.OfType("aws:ec2/vpc:Vpc")
		logs := r.OfType("aws:ec2/flowLog:FlowLog")
		if len(vpcs) != 1 || len(logs) != 1 || logs[0].Str("vpcId") != vpcs[0].ID() || logs[0].Str("trafficType") != "ALL" {
			t.Fatalf("want one flow log of ALL traffic on the one VPC")
		}
		var flowGroup *plan.Resource
		for _, g := range r.OfType("aws:cloudwatch/logGroup:LogGroup") {
			if "arn:aws:cloudwatch:us-east-1:123456789012:"+g.Name == logs[0].Str("logDestination") {
				flowGroup = &g
			}
		}
		if flowGroup == nil || flowGroup.Int("retentionInDays") != wantRetention[v.name] {
			t.Errorf("flow log group retention: want %d days", wantRetention[v.name])
		}
		sgEndpoints := ""
		for _, sg := range r.OfType("aws:ec2/securityGroup:SecurityGroup") {
			if sg.Str("tags", "role") == "endpoints" {
				sgEndpoints = sg.ID()
			}
		}
		var iface int
		compute := tierIDs(r, "compute")
		for _, e := range r.OfType("aws:ec2/vpcEndpoint:VpcEndpoint") {
			switch e.Str("vpcEndpointType") {
			case "Gateway":
				if e.Str("serviceName") != "com.amazonaws.us-east-1.s3" || len(e.Strs("routeTableIds")) != len(compute) {
					t.Errorf("gateway endpoint %s: %s on %d route tables; want S3 on the %d compute tables", e.Name, e.Str("serviceName"), len(e.Strs("routeTableIds")), len(compute))
				}
			case "Interface":
				iface++
				if !e.Bool("privateDnsEnabled") || strings.Join(e.Strs("securityGroupIds"), ",") != sgEndpoints {
					t.Errorf("interface endpoint %s: private DNS %v, groups %v; want private DNS and the endpoints group", e.Name, e.Input("privateDnsEnabled"), e.Strs("securityGroupIds"))
				}
				for _, s := range e.Strs("subnetIds") {
					if !compute[s] {
						t.Errorf("interface endpoint %s in %s, not a compute subnet", e.Name, s)
					}
				}
			}
		}
		if iface != wantEndpoints[v.name] {
			t.Errorf("%d interface endpoints; want %d", iface, wantEndpoints[v.name])
		}
	})
}

// Tags through the provider: one explicit AWS provider carries project,
// stack and owner as default tags, and every AWS resource uses it.
func TestTagsThroughProvider(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		providers := r.OfType("pulumi:providers:aws")
		if len(providers) != 1 {
			t.Fatalf("%d AWS providers; want 1", len(providers))
		}
		p := providers[0]
		for k, want := range map[string]string{"project": "hookline", "stack": v.stack, "owner": "platform@hookline.dev"} {
			if got := p.Str("defaultTags", "tags", k); got != want {
				t.Errorf("default tag %s = %q; want %q", k, got, want)
			}
		}
		if p.Str("region") != "us-east-1" {
			t.Errorf("provider region %q", p.Str("region"))
		}
		for _, res := range r.Resources {
			if !strings.HasPrefix(res.Type, "aws:") {
				continue
			}
			if plan.ProviderURN(res.Provider) != p.URN {
				t.Errorf("%s %s uses provider %q, not the tagged one", res.Type, res.Name, res.Provider)
			}
		}
	})
}

// Every AWS resource belongs to a hookline component (none hangs off the
// stack), and the components are the ones of the picture.
func TestComponentsParentEverything(t *testing.T) {
	forEachStack(t, func(t *testing.T, v variant, r *plan.Result) {
		components := map[string]string{}
		for _, res := range r.Resources {
			if strings.HasPrefix(res.Type, "hookline:") {
				components[res.URN] = res.Type
			}
		}
		types := map[string]bool{}
		for _, ty := range components {
			types[ty] = true
		}
		for _, want := range []string{"hookline:network:Vpc", "hookline:security:Groups", "hookline:database:Database", "hookline:cache:Redis", "hookline:broker:RabbitMQ",
			"hookline:sources:Document", "hookline:registry:Repository", "hookline:service:Processor", "hookline:receiver:Function", "hookline:dashboard:Dashboard"} {
			if !types[want] {
				t.Errorf("no %s component", want)
			}
		}
		for _, res := range r.Resources {
			if strings.HasPrefix(res.Type, "aws:") {
				if _, ok := components[res.Parent]; !ok {
					t.Errorf("%s %s is parented to %q, not a hookline component", res.Type, res.Name, res.Parent)
				}
				if !strings.HasPrefix(res.Name, "hookline-"+v.stack) {
					t.Errorf("%s %s: name not derived from its component's", res.Type, res.Name)
				}
			}
		}
	})
}

func names(rs []plan.Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}
