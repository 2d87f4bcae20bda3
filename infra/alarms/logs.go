package alarms

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/internal/metricnames"
)

// InitFailurePattern matches the line Lambda writes when an instance's init
// phase fails or times out (docs.aws.amazon.com/lambda/latest/dg/
// lambda-runtime-environment.html, "Failures during the Init phase"):
//
//	INIT_REPORT Init Duration: 1236.04 ms	Phase: init	Status: timeout
//	INIT_REPORT Init Duration: 2.59 ms	Phase: invoke	Status: error	Error Type: Runtime.ExitError
//
// Lambda writes it as text (the function's log format is Text). A
// successful init writes no INIT_REPORT line on demand; the Status term
// keeps the filter to failures in any case.
const InitFailurePattern = `%INIT_REPORT.*Status: (error|timeout)%`

// initFailureFilter counts those lines into the stack's log metric.
func initFailureFilter(ctx *pulumi.Context, name string, args WatchArgs, parent pulumi.ResourceOption) (*cloudwatch.LogMetricFilter, error) {
	return cloudwatch.NewLogMetricFilter(ctx, name+"-receiver-init-failures", &cloudwatch.LogMetricFilterArgs{
		LogGroupName: args.ReceiverLogGroup,
		Pattern:      pulumi.String(InitFailurePattern),
		MetricTransformation: &cloudwatch.LogMetricFilterMetricTransformationArgs{
			Namespace: pulumi.String(metricnames.LogNamespace(args.Stack)),
			Name:      pulumi.String(metricnames.ReceiverInitFailures),
			Value:     pulumi.String("1"),
			Unit:      pulumi.String(metricnames.LogUnits[metricnames.ReceiverInitFailures]),
		},
	}, parent)
}
