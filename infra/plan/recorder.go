// Package plan runs the hookline program offline under a recording mock:
// no credentials, no network. The tests and `make plan` share it, so both
// see the same graph; Write renders it in DESIGN.md's plan format.
package plan

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one recorded resource registration.
type Resource struct {
	URN      string
	Type     string
	Name     string
	Parent   string // parent URN, empty for the stack's direct children
	Provider string // provider reference (URN::ID), empty for default providers and components
	Custom   bool
	Inputs   resource.PropertyMap

	DeleteBeforeReplace bool
	Protect             bool
	RetainOnDelete      bool
	IgnoreChanges       []string
	DependsOn           []string // URNs
}

// Recorder is a pulumi.MockResourceMonitor that records every registration.
type Recorder struct {
	Project, Stack, Region string

	mu        sync.Mutex
	resources []Resource
}

// NewResource records the registration and answers with a deterministic ID
// and the inputs echoed back, plus the few computed outputs the program reads.
func (r *Recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	parent, dbr, protect, retain := "", false, false, false
	var ignore, deps []string
	if rpc := args.RegisterRPC; rpc != nil {
		parent, dbr, protect, retain = rpc.GetParent(), rpc.GetDeleteBeforeReplace(), rpc.GetProtect(), rpc.GetRetainOnDelete()
		ignore, deps = rpc.GetIgnoreChanges(), rpc.GetDependencies()
	}
	urn := r.urn(parent, args.TypeToken, args.Name)
	r.mu.Lock()
	r.resources = append(r.resources, Resource{
		URN: urn, Type: args.TypeToken, Name: args.Name, Parent: parent,
		Provider: args.Provider, Custom: args.Custom, Inputs: args.Inputs.Copy(),
		DeleteBeforeReplace: dbr, Protect: protect, RetainOnDelete: retain, IgnoreChanges: ignore, DependsOn: deps,
	})
	r.mu.Unlock()

	id := MockID(args.TypeToken, args.Name)
	if args.ID != "" {
		id = args.ID
	}
	state := args.Inputs.Copy()
	if args.Custom {
		state["arn"] = resource.NewStringProperty(r.arn(args.TypeToken, args.Name))
		for k, v := range computed(args.TypeToken, args.Name) {
			if _, set := state[resource.PropertyKey(k)]; !set {
				state[resource.PropertyKey(k)] = resource.NewStringProperty(v)
			}
		}
		if n := args.Inputs["name"]; args.TypeToken == "aws:ecr/repository:Repository" && n.IsString() {
			state["repositoryUrl"] = resource.NewStringProperty("123456789012.dkr.ecr." + r.Region + ".amazonaws.com/" + n.StringValue())
		}
		r.edgeOutputs(args, id, state)
		if args.TypeToken == "aws:rds/instance:Instance" && args.Inputs["manageMasterUserPassword"].IsBool() && args.Inputs["manageMasterUserPassword"].BoolValue() {
			// The secret RDS creates for the master user.
			state["masterUserSecrets"] = resource.NewArrayProperty([]resource.PropertyValue{
				resource.NewObjectProperty(resource.PropertyMap{
					"secretArn": resource.NewStringProperty(fmt.Sprintf("arn:aws:secretsmanager:%s:123456789012:rds!%s", r.Region, args.Name)),
				}),
			})
		}
	}
	return id, state, nil
}

// Call answers invokes. The program makes none that need the cloud; any
// invoke is an error, so one cannot creep in unnoticed.
func (r *Recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("plan: invoke %s would need the cloud; take the value from config or an SSM resolve: parameter", args.Token)
}

// Resources returns the recorded resources sorted by URN.
func (r *Recorder) Resources() []Resource {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Resource(nil), r.resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

func (r *Recorder) urn(parent, typ, name string) string {
	parentType := tokens.Type("")
	if p := resource.URN(parent); p != "" && p.QualifiedType() != resource.RootStackType {
		parentType = p.QualifiedType()
	}
	return string(resource.NewURN(tokens.QName(r.Stack), tokens.PackageName(r.Project), parentType, tokens.Type(typ), name))
}

// arn fakes an ARN shaped like the real one: arn:aws:<service>:<region>:<account>:<name>.
func (r *Recorder) arn(typ, name string) string {
	service := "unknown"
	if parts := strings.Split(typ, ":"); len(parts) == 3 {
		service = strings.SplitN(parts[1], "/", 2)[0]
	}
	return fmt.Sprintf("arn:aws:%s:%s:123456789012:%s", service, r.Region, name)
}

// computed are outputs AWS would compute that the program passes on.
func computed(typ, name string) map[string]string {
	switch typ {
	case "aws:ec2/networkInterface:NetworkInterface":
		return map[string]string{"privateIp": "10.255.0.10"}
	case "aws:elasticache/replicationGroup:ReplicationGroup":
		return map[string]string{"primaryEndpointAddress": "master." + name + ".cache.amazonaws.com"}
	case "aws:rds/instance:Instance":
		return map[string]string{"address": name + ".rds.amazonaws.com", "identifier": name}
	case "aws:lb/loadBalancer:LoadBalancer":
		return map[string]string{"dnsName": name + "-0123456789abcdef.elb.amazonaws.com"}
	case "aws:ssm/document:Document":
		return map[string]string{"name": name}
	case "aws:secretsmanager/secretVersion:SecretVersion":
		return map[string]string{"versionId": name + "-version-1"}
	case "aws:kms/key:Key":
		return map[string]string{"keyId": name + "-key-id"}
	case "aws:cloudwatch/logGroup:LogGroup", "aws:ecs/cluster:Cluster", "aws:ecs/service:Service", "aws:lambda/function:Function":
		return map[string]string{"name": name}
	case "aws:iam/role:Role", "aws:rds/subnetGroup:SubnetGroup", "aws:rds/parameterGroup:ParameterGroup",
		"aws:elasticache/subnetGroup:SubnetGroup":
		return map[string]string{"name": name}
	}
	return nil
}

// MockID is the ID the recording mock gives a resource, shaped like AWS's
// (<kind>-<name>), so that the inputs that refer to it read clearly in a plan.
func MockID(typ, name string) string {
	kind := typ
	if i := strings.LastIndex(typ, ":"); i >= 0 {
		kind = typ[i+1:]
	}
	return strings.ToLower(kind) + "-" + name
}

// edgeOutputs are the computed outputs of the edge's API Gateway and ACM
// resources that the program passes on: the API's execution ARN, each
// custom domain's regional target, and ACM's DNS validation records (one
// per name, shaped like ACM's).
func (r *Recorder) edgeOutputs(args pulumi.MockResourceArgs, id string, state resource.PropertyMap) {
	switch args.TypeToken {
	case "aws:apigatewayv2/api:Api":
		state["executionArn"] = resource.NewStringProperty(fmt.Sprintf("arn:aws:execute-api:%s:123456789012:%s", r.Region, id))
		state["apiEndpoint"] = resource.NewStringProperty(fmt.Sprintf("https://%s.execute-api.%s.amazonaws.com", id, r.Region))
	case "aws:apigatewayv2/domainName:DomainName":
		if c := args.Inputs["domainNameConfiguration"]; c.IsObject() {
			conf := c.ObjectValue().Copy()
			conf["targetDomainName"] = resource.NewStringProperty(fmt.Sprintf("d-%s.execute-api.%s.amazonaws.com", strings.ToLower(args.Name), r.Region))
			state["domainNameConfiguration"] = resource.NewObjectProperty(conf)
		}
	case "aws:acm/certificate:Certificate":
		var names []string
		if d := args.Inputs["domainName"]; d.IsString() {
			names = append(names, d.StringValue())
		}
		if sans := args.Inputs["subjectAlternativeNames"]; sans.IsArray() {
			for _, v := range sans.ArrayValue() {
				if v.IsString() {
					names = append(names, v.StringValue())
				}
			}
		}
		var opts []resource.PropertyValue
		for i, n := range names {
			opts = append(opts, resource.NewObjectProperty(resource.PropertyMap{
				"domainName":          resource.NewStringProperty(n),
				"resourceRecordName":  resource.NewStringProperty(fmt.Sprintf("_acm%02d.%s.", i, n)),
				"resourceRecordType":  resource.NewStringProperty("CNAME"),
				"resourceRecordValue": resource.NewStringProperty(fmt.Sprintf("_acm%02d.validations.aws.", i)),
			}))
		}
		state["domainValidationOptions"] = resource.NewArrayProperty(opts)
	}
}
