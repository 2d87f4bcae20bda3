// Package dashboard declares the stack's CloudWatch dashboard: the
// receiver (invocations, errors, throttles, duration, concurrency), the
// processor (CPU, memory, running tasks), the broker nodes and the
// database, on one page. Alarms come with their own issue.
package dashboard

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Args names what the dashboard shows.
type Args struct {
	Region            string
	ClusterName       pulumi.StringInput
	ServiceName       pulumi.StringInput // empty before the first image
	FunctionName      pulumi.StringInput
	DatabaseArn       pulumi.StringInput // arn:aws:rds:…:db:<identifier>
	BrokerInstanceIDs pulumi.StringArrayInput
	ProcessorLogGroup pulumi.StringInput
	ReceiverLogGroup  pulumi.StringInput
}

// Dashboard is the dashboard component.
type Dashboard struct {
	pulumi.ResourceState

	URL pulumi.StringOutput
}

// New declares the dashboard.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Dashboard, error) {
	d := &Dashboard{}
	if err := ctx.RegisterComponentResource("hookline:dashboard:Dashboard", name, d, opts...); err != nil {
		return nil, err
	}
	body := pulumi.All(args.ClusterName, args.ServiceName, args.FunctionName, args.DatabaseArn, args.BrokerInstanceIDs,
		args.ProcessorLogGroup, args.ReceiverLogGroup).ApplyT(func(v []any) (string, error) {
		return Body(args.Region, v[0].(string), v[1].(string), v[2].(string), v[3].(string), v[4].([]string), v[5].(string), v[6].(string))
	}).(pulumi.StringOutput)
	if _, err := cloudwatch.NewDashboard(ctx, name, &cloudwatch.DashboardArgs{
		DashboardName: pulumi.String(name),
		DashboardBody: body,
	}, pulumi.Parent(d)); err != nil {
		return nil, err
	}
	d.URL = pulumi.Sprintf("https://%s.console.aws.amazon.com/cloudwatch/home?region=%s#dashboards:name=%s", args.Region, args.Region, name)
	if err := ctx.RegisterResourceOutputs(d, pulumi.Map{"url": d.URL}); err != nil {
		return nil, err
	}
	return d, nil
}

// Body renders the dashboard JSON.
func Body(region, cluster, service, function, dbArn string, brokers []string, processorLogs, receiverLogs string) (string, error) {
	dbID := dbArn[strings.LastIndex(dbArn, ":")+1:]
	type widget = map[string]any
	metric := func(title, stat string, metrics ...[]any) widget {
		return widget{"type": "metric", "width": 12, "height": 6, "properties": map[string]any{
			"title": title, "region": region, "stat": stat, "period": 60, "view": "timeSeries", "metrics": metrics,
		}}
	}
	widgets := []widget{
		metric("Receiver: invocations, errors, throttles", "Sum",
			[]any{"AWS/Lambda", "Invocations", "FunctionName", function},
			[]any{"AWS/Lambda", "Errors", "FunctionName", function},
			[]any{"AWS/Lambda", "Throttles", "FunctionName", function}),
		metric("Receiver: duration p99 (ms) and concurrency", "p99",
			[]any{"AWS/Lambda", "Duration", "FunctionName", function},
			[]any{"AWS/Lambda", "ConcurrentExecutions", "FunctionName", function, map[string]any{"stat": "Maximum", "yAxis": "right"}}),
	}
	if service != "" {
		widgets = append(widgets,
			metric("Processor: CPU and memory (%)", "Average",
				[]any{"AWS/ECS", "CPUUtilization", "ClusterName", cluster, "ServiceName", service},
				[]any{"AWS/ECS", "MemoryUtilization", "ClusterName", cluster, "ServiceName", service}),
			metric("Processor: running tasks", "Average",
				[]any{"ECS/ContainerInsights", "RunningTaskCount", "ClusterName", cluster, "ServiceName", service}),
		)
	}
	var brokerCPU [][]any
	for _, id := range brokers {
		brokerCPU = append(brokerCPU, []any{"AWS/EC2", "CPUUtilization", "InstanceId", id})
	}
	widgets = append(widgets,
		metric("Broker nodes: CPU (%)", "Average", brokerCPU...),
		metric("Database: CPU (%) and connections", "Average",
			[]any{"AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", dbID},
			[]any{"AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", dbID, map[string]any{"yAxis": "right"}}),
		widget{"type": "log", "width": 24, "height": 6, "properties": map[string]any{
			"title":  "Errors in the receiver and processor logs",
			"region": region,
			"view":   "table",
			"query": fmt.Sprintf("SOURCE '%s' | SOURCE '%s' | fields @timestamp, @log, level, msg, error | filter level = 'ERROR' | sort @timestamp desc | limit 50",
				processorLogs, receiverLogs),
		}},
	)
	b, err := json.Marshal(map[string]any{"widgets": widgets})
	return string(b), err
}
