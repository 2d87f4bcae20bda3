package alarms

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/queuemetrics"
)

// Missing data, per alarm (docs/alarms.md states each choice):
//   - "missing" (keep the state) for metrics a running resource always
//     publishes, so a gap neither pages nor clears a page;
//   - "notBreaching" for counts and rates of traffic, absent when nothing
//     happens, so zero traffic never pages;
//   - "breaching" where no data is itself the fault, or hides it: the
//     broker's health counts, which the collector publishes only when it
//     read them whole.

// serviceAlarms watch the processor's ECS service (Container Insights is
// on for its cluster): CPU and memory high for 15 minutes, and fewer tasks
// running than desired for 5.
func serviceAlarms(args WatchArgs) []Alarm {
	if args.ServiceName == nil {
		return nil
	}
	t := args.Thresholds
	svc := pulumi.StringMap{"ClusterName": args.ClusterName, "ServiceName": args.ServiceName}
	below := Alarm{
		Suffix: "ecs-tasks-below-desired", Comparison: "GreaterThanThreshold", Threshold: 0,
		Period: 60, Evaluation: 5, Datapoints: 5,
		// No Container Insights data for 5 minutes means the service (or its
		// metrics) stopped: that is the fault this alarm is for.
		Missing:    "breaching",
		Expression: "desired - running",
		Inputs: []Input{
			{ID: "desired", Namespace: "ECS/ContainerInsights", Metric: "DesiredTaskCount", Stat: "Maximum", Dimensions: svc},
			{ID: "running", Namespace: "ECS/ContainerInsights", Metric: "RunningTaskCount", Stat: "Minimum", Dimensions: svc},
		},
		Description: "Processor running fewer tasks than desired for 5 minutes: look at the service's events and the last stopped task's reason (the ecs-task-stopped notice).",
	}
	return []Alarm{
		single("ecs-cpu", "AWS/ECS", "CPUUtilization", "Average", svc, "GreaterThanThreshold", t.ServiceCPUPercent, 300, 3, 3, "missing",
			"Processor CPU high for 15 minutes although scaling adds tasks from 80 %: look at the task count against hookline:processor.maxTasks, then the batch duration."),
		single("ecs-memory", "AWS/ECS", "MemoryUtilization", "Average", svc, "GreaterThanThreshold", t.ServiceMemoryPercent, 300, 3, 3, "missing",
			"Processor memory high for 15 minutes (tasks are killed at 100 %): look at prefetch and concurrency, then hookline:processor.memoryMiB."),
		below,
	}
}

// apiAlarms watch the HTTP API (AWS/ApiGateway, dimension ApiId: HTTP APIs
// publish 4xx, 5xx, Count and Latency per API without detailed metrics).
// The rates are shares of the requests, and only page above a minimum
// number of requests: a single 5xx at night is not a 100 % error rate.
func apiAlarms(args WatchArgs) []Alarm {
	if args.APIID == nil {
		return nil
	}
	t := args.Thresholds
	api := pulumi.StringMap{"ApiId": args.APIID}
	rate := func(suffix, metric string, share float64, evaluation int, description string) Alarm {
		return Alarm{
			Suffix: suffix, Comparison: "GreaterThanThreshold", Threshold: share,
			Period: 300, Evaluation: evaluation, Datapoints: evaluation, Missing: "notBreaching",
			Expression: fmt.Sprintf("IF(requests >= %g, 100 * FILL(errors, 0) / requests, 0)", t.APIMinRequests),
			Inputs: []Input{
				{ID: "errors", Namespace: "AWS/ApiGateway", Metric: metric, Stat: "Sum", Dimensions: api},
				{ID: "requests", Namespace: "AWS/ApiGateway", Metric: "Count", Stat: "Sum", Dimensions: api},
			},
			Description: description,
		}
	}
	return []Alarm{
		rate("api-5xx-rate", "5xx", t.APIErrorPercent, 1,
			"API Gateway answering 5xx: 500/502 are receiver crashes or init failures, 503 the broker, 504 timeouts; look at the access log's integrationError, then the receiver alarms."),
		rate("api-4xx-rate", "4xx", t.APIClientPercent, 2,
			"API Gateway 4xx share high for 10 minutes: look at the receiver's rejected-by-status metrics (401: a sender's secret, 403: the origin secret, 429: API throttling)."),
		single("api-latency", "AWS/ApiGateway", "Latency", "p99", api, "GreaterThanThreshold", t.APILatencyP99Milli, 300, 3, 3, "notBreaching",
			"API Gateway p99 latency high for 15 minutes: compare IntegrationLatency (the receiver, then the broker's confirms) with Latency (API Gateway itself)."),
	}
}

// receiverAlarms watch the receiver's own metrics (Hookline/Receiver, the
// stack-wide series without Source): rejections that mean a secret is
// wrong, publish failures, internal errors, and init failures counted from
// its log group.
func receiverAlarms(args WatchArgs) []Alarm {
	t := args.Thresholds
	stack := pulumi.StringMap{metricnames.StackDimension: pulumi.String(args.Stack)}
	status := func(code string) pulumi.StringMap {
		return pulumi.StringMap{metricnames.StackDimension: pulumi.String(args.Stack), metricnames.StatusDimension: pulumi.String(code)}
	}
	ns := metricnames.ReceiverNamespace
	out := []Alarm{
		single("receiver-signature-rejections", ns, metricnames.Rejected, "Sum", status("401"), "GreaterThanOrEqualToThreshold", t.RejectedSignature, 300, 2, 2, "notBreaching",
			"Webhooks refused with 401 for 10 minutes: a sender's signing secret no longer matches (a rotation done on one side); find the source in the receiver log (status 401), then rotate per docs/operations.md."),
		single("receiver-origin-rejections", ns, metricnames.Rejected, "Sum", status("403"), "GreaterThanOrEqualToThreshold", t.RejectedOrigin, 300, 2, 2, "notBreaching",
			"Webhooks refused with 403 for 10 minutes: the origin secret Cloudflare adds is not one the receiver accepts, or a source's host is wrong; check hookline:originSecrets against the Cloudflare rule."),
		single("receiver-publish-failures", ns, metricnames.PublishFailures, "Sum", stack, "GreaterThanOrEqualToThreshold", t.PublishFailures, 300, 1, 1, "notBreaching",
			"Webhooks answered 503 because the broker did not confirm: look at the broker's memory and disk alarms, its nodes, then the receiver's publish confirm latency."),
		single("receiver-internal-errors", ns, metricnames.InternalErrors, "Sum", stack, "GreaterThanOrEqualToThreshold", t.InternalErrors, 300, 1, 1, "notBreaching",
			"Receiver answered 500 (a defect, not the sender): look at the receiver log's ERROR lines for the request ids."),
		// Two periods: one failed fetch (the cache serves stale keys and
		// refetches at most every 30 s) is not worth a page; ten minutes of
		// 503s is a JWKS or SNS certificate host the receiver cannot reach.
		single("receiver-verify-unavailable", ns, metricnames.VerifyUnavailable, "Sum", stack, "GreaterThanOrEqualToThreshold", t.VerifyUnavailable, 300, 2, 2, "notBreaching",
			"Webhooks answered 503 for 10 minutes because a verification dependency is unreachable (an oidc source's JWKS, SNS's signing certificate): find the source by the Source dimension, then check the URL from the compute subnets (NAT gateway, DNS, the provider's status)."),
		// Handshakes are a few an hour (x's hourly CRC, a subscription's
		// validation); a sustained stream is a provider re-verifying in a
		// loop or someone driving the unauthenticated handshake GETs.
		single("receiver-handshakes", ns, metricnames.Handshakes, "Sum", stack, "GreaterThanThreshold", t.Handshakes, 300, 3, 3, "notBreaching",
			"Receiver answering endpoint handshakes far above the usual few an hour for 15 minutes: a provider re-verifying the endpoint in a loop (its deliveries failing) or a flood of handshake GETs; find the source by the Source dimension and the client IPs in the API access log."),
	}
	if args.ReceiverLogGroup != nil {
		out = append(out, single("receiver-init-failures", metricnames.LogNamespace(args.Stack), metricnames.ReceiverInitFailures, "Sum", nil,
			"GreaterThanOrEqualToThreshold", 1, 300, 1, 1, "notBreaching",
			"Receiver instances failing to start (INIT_REPORT with Status: error or timeout): API Gateway answers 500; look at the receiver log just before the INIT_REPORT line (config, secrets, broker CA)."))
	}
	return out
}

// processorAlarms watch the processor's own metrics (Hookline/Processor,
// the stack-wide series), once the service exists.
func processorAlarms(args WatchArgs) []Alarm {
	if args.ServiceName == nil {
		return nil
	}
	t := args.Thresholds
	result := func(r string) pulumi.StringMap {
		return pulumi.StringMap{metricnames.StackDimension: pulumi.String(args.Stack), metricnames.ResultDimension: pulumi.String(r)}
	}
	ns := metricnames.ProcessorNamespace
	return []Alarm{{
		// A callback given up: every try failed (Attempts over hours of
		// backoff), or its URL is not a public address. Either way the
		// sender's system never hears that its webhook was processed.
		Suffix: "callback-failures", Comparison: "GreaterThanOrEqualToThreshold", Threshold: t.CallbackFailures,
		Period: 300, Evaluation: 1, Datapoints: 1, Missing: "notBreaching",
		Expression: "FILL(failed, 0) + FILL(refused, 0)",
		Inputs: []Input{
			{ID: "failed", Namespace: ns, Metric: metricnames.ProcCallbacks, Stat: "Sum", Dimensions: result(metricnames.CallbackFailed)},
			{ID: "refused", Namespace: ns, Metric: metricnames.ProcCallbacks, Stat: "Sum", Dimensions: result(metricnames.CallbackRefused)},
		},
		Description: "Callbacks given up (every retry failed, or the callback_url is not a public address): the sender's system never learns its webhook was processed; look at the processor log's callback lines for the source and host, then that endpoint or the source's callback_url.",
	}}
}

// queueAlarms watch webhooks.inbound and webhooks.dead through the
// collector's metrics (the collector's own silence alarm is infra/scaling's).
func queueAlarms(args WatchArgs) []Alarm {
	t := args.Thresholds
	stack := pulumi.StringMap{queuemetrics.StackDimension: pulumi.String(args.Stack)}
	ns := queuemetrics.Namespace
	return []Alarm{
		single("queue-dead-letters", ns, queuemetrics.DeadDepth, "Maximum", stack, "GreaterThanThreshold", 0, 300, 1, 1, "missing",
			"Messages in webhooks.dead: webhooks the processor gave up on; read one with the DLQ tool (docs/operations.md), fix the cause, replay."),
		{
			Suffix: "queue-backlog", Comparison: "GreaterThanThreshold", Threshold: t.BacklogDrainMinutes,
			Period: 60, Evaluation: 5, Datapoints: 5, Missing: "missing",
			// Minutes to drain the backlog at the current consumption rate;
			// a backlog nothing consumes is "forever" (a large number).
			Expression: "IF(depth > 0, IF(consume > 0, depth / consume / 60, 1000000), 0)",
			Inputs: []Input{
				{ID: "depth", Namespace: ns, Metric: queuemetrics.InboundDepth, Stat: "Maximum", Dimensions: stack},
				{ID: "consume", Namespace: ns, Metric: queuemetrics.ConsumeRate, Stat: "Average", Dimensions: stack},
			},
			Description: "webhooks.inbound would take too long to drain at the current rate, 5 minutes in a row: look at the processor's task count and errors, then the database and Redis latency.",
		},
	}
}

// brokerAlarms watch RabbitMQ itself through the collector's health counts,
// and each node's host through its health timer (infra/broker/bootstrap:
// memory and data-volume use every minute in hookline/broker) and EC2's
// CPU. The health counts exist only while the processor's service runs the
// collector; a missing count is breaching: the collector could not read it
// whole (processor/collector/health.go), and "unknown" must page as the
// fault it may hide would (docs/alarms.md).
func brokerAlarms(args WatchArgs) []Alarm {
	t := args.Thresholds
	var out []Alarm
	for i, node := range args.BrokerNodes {
		n := fmt.Sprintf("broker-node-%d", i)
		dims := pulumi.StringMap{metricnames.NodeDimension: pulumi.String(node)}
		out = append(out,
			single(n+"-memory", metricnames.BrokerNamespace, metricnames.BrokerMemoryUsedPercent, "Maximum", dims, "GreaterThanThreshold", t.BrokerMemoryPercent, 300, 3, 3, "missing",
				"Broker node memory use high for 15 minutes (the host, RabbitMQ's own watermark is 60 %): look at the queue depths and connections, then the instance type."),
			single(n+"-data-disk", metricnames.BrokerNamespace, metricnames.BrokerDataDiskUsedPercent, "Maximum", dims, "GreaterThanThreshold", t.BrokerDiskPercent, 300, 1, 1, "missing",
				"Broker data volume filling up: RabbitMQ blocks publishers when 2 GB remain; look at webhooks.dead and the queue depths, then grow hookline:broker.dataVolumeGiB."),
		)
		if i < len(args.BrokerInstanceIDs) {
			out = append(out, single(n+"-cpu", "AWS/EC2", "CPUUtilization", "Average", pulumi.StringMap{"InstanceId": args.BrokerInstanceIDs[i]},
				"GreaterThanThreshold", t.BrokerCPUPercent, 300, 3, 3, "missing",
				"Broker node CPU high for 15 minutes: publish confirms slow down; look at the message rates and the instance type (burstable credits)."))
		}
	}
	if args.ServiceName == nil {
		return out // no processor service, no collector: nothing publishes the health counts
	}
	stack := pulumi.StringMap{queuemetrics.StackDimension: pulumi.String(args.Stack)}
	ns := queuemetrics.Namespace
	const unknown = " No datum (breaching): the collector could not read the count; see its log line \"broker health unknown\"."
	out = append(out,
		single("broker-memory-alarm", ns, queuemetrics.BrokerMemoryAlarm, "Maximum", stack, "GreaterThanThreshold", 0, 60, 2, 2, "breaching",
			"RabbitMQ memory alarm raised: publishers are blocked, every webhook gets 503; look at the queue depths and the node's memory, then drain or scale the processor."+unknown),
		single("broker-disk-alarm", ns, queuemetrics.BrokerDiskAlarm, "Maximum", stack, "GreaterThanThreshold", 0, 60, 2, 2, "breaching",
			"RabbitMQ free disk alarm raised: publishers are blocked, every webhook gets 503; look at the data volume's use and webhooks.dead, then grow hookline:broker.dataVolumeGiB."+unknown),
	)
	if args.BrokerCluster {
		out = append(out,
			single("broker-quorum-members-missing", ns, queuemetrics.QuorumMembersMissing, "Maximum", stack, "GreaterThanThreshold", 0, 60, 5, 5, "breaching",
				"Quorum queue members offline for 5 minutes: one more node lost would stop the queues; look at the nodes' not-ready alarms and rabbitmq-queues check_if_node_is_quorum_critical."+unknown),
			single("broker-queues-without-leader", ns, queuemetrics.QueuesWithoutLeader, "Maximum", stack, "GreaterThanThreshold", 0, 60, 2, 2, "breaching",
				"Quorum queues without a leader: they accept no publishes and deliver nothing; look at how many nodes are up and rabbitmq-diagnostics status on each."+unknown),
			single("broker-partitions", ns, queuemetrics.Partitions, "Maximum", stack, "GreaterThanThreshold", 0, 60, 2, 2, "breaching",
				"RabbitMQ nodes that run but do not see each other (a network split): look at the nodes' network and rabbitmq-diagnostics cluster_status on each."+unknown),
		)
	}
	return out
}

// canaryAlarms watch the end-to-end canary over canaryPeriods of its
// intervals (one run each): its runs not answered 2xx at the public URL,
// and its pings not stored by the processor. A run that wrote no line
// (the function did not run) is missing data for canary-failed, which
// does not page on it: canary-arrivals-missing does, because no arrival
// is exactly its fault ("breaching"). The arrivals alarm needs the
// service (the processor's EMF lines carry a 0 every minute while a task
// runs, so only no task at all, or no canary ping, is missing data).
func canaryAlarms(args WatchArgs) []Alarm {
	if args.CanaryIntervalMinutes == 0 {
		return nil
	}
	t := args.Thresholds
	stack := pulumi.StringMap{metricnames.StackDimension: pulumi.String(args.Stack)}
	period, m := args.CanaryIntervalMinutes*60, int(t.CanaryPeriods)
	out := []Alarm{
		single("canary-failed", metricnames.CanaryNamespace, metricnames.CanaryFailures, "Sum", stack, "GreaterThanOrEqualToThreshold", t.CanaryFailures, period, m, m, "notBreaching",
			"The canary's signed webhook to the public URL is not answered 2xx, run after run: senders see the same; its log line has the status (403: origin secret or WAF, 401: canarySecret, 5xx: receiver or broker, error: DNS, TLS, timeout)."),
	}
	if args.ServiceName != nil {
		out = append(out, single("canary-arrivals-missing", metricnames.ProcessorNamespace, metricnames.ProcCanaryArrivals, "Sum", stack, "LessThanThreshold", 1, period, m, m, "breaching",
			"No canary ping stored by the processor, interval after interval: webhooks are not reaching the database end to end; look at canary-failed, then the queue backlog, the processor's tasks and dead letters."))
	}
	return out
}
