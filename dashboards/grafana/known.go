package grafana

import (
	"slices"
	"strings"
	"sync"

	"github.com/hookline/hookline/internal/metricnames"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// AWS lists, per namespace, the AWS-published CloudWatch metrics the
// dashboards may name. Each group cites the page that lists it; add a
// name only with its page.
var AWS = map[string][]string{
	// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
	// (invocation, performance and concurrency metrics; FunctionName).
	"AWS/Lambda": {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions",
		"UnreservedConcurrentExecutions", "ClaimedAccountConcurrency"},
	// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
	// (HTTP APIs: 4xx and 5xx, not the REST APIs' 4XXError; ApiId, Stage).
	"AWS/ApiGateway": {"4xx", "5xx", "Count", "IntegrationLatency", "Latency", "DataProcessed"},
	// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html
	// (ClusterName, ServiceName).
	"AWS/ECS": {"CPUUtilization", "MemoryUtilization"},
	// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html
	// (Container Insights, which the processor's cluster enables).
	"ECS/ContainerInsights": {"RunningTaskCount", "DesiredTaskCount", "PendingTaskCount", "CpuUtilized",
		"MemoryUtilized", "NetworkRxBytes", "NetworkTxBytes", "TaskCount", "DeploymentCount"},
	// https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-metrics.html
	// (instance-level metrics; DBInstanceIdentifier).
	"AWS/RDS": {"CPUUtilization", "DatabaseConnections", "FreeableMemory", "FreeStorageSpace",
		"ReadLatency", "WriteLatency", "ReadIOPS", "WriteIOPS", "DiskQueueDepth"},
	// https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html
	// and CacheMetrics.HostLevel.html (CacheClusterId).
	"AWS/ElastiCache": {"EngineCPUUtilization", "CPUUtilization", "DatabaseMemoryUsagePercentage",
		"CurrConnections", "NewConnections", "Evictions", "ReplicationLag", "CacheHits", "CacheMisses",
		"NetworkBytesIn", "NetworkBytesOut"},
	// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/viewing_metrics_with_cloudwatch.html
	// (InstanceId: the broker nodes).
	"AWS/EC2": {"CPUUtilization", "StatusCheckFailed", "StatusCheckFailed_System", "StatusCheckFailed_Instance",
		"NetworkIn", "NetworkOut", "EBSReadBytes", "EBSWriteBytes"},
	// https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-cloudwatch-metrics.html
	// (the broker cluster's internal NLB; LoadBalancer, TargetGroup).
	"AWS/NetworkELB": {"ActiveFlowCount", "NewFlowCount", "HealthyHostCount", "UnHealthyHostCount",
		"TCP_Client_Reset_Count", "TCP_Target_Reset_Count"},
	// https://docs.aws.amazon.com/vpc/latest/userguide/vpc-nat-gateway-cloudwatch.html
	// (NatGatewayId).
	"AWS/NATGateway": {"ErrorPortAllocation", "PacketsDropCount", "BytesOutToDestination", "ActiveConnectionCount"},
}

// RabbitMQ lists the metric names of RabbitMQ's rabbitmq_prometheus
// plugin as of RabbitMQ 4.3 (the broker runs the official 4.3.6 image,
// infra/broker/bootstrap.DefaultImage): deps/rabbitmq_prometheus/metrics.md
// at tag v4.3.5 of rabbitmq/rabbitmq-server (commit
// 0dde27bfdd1984ff7e157226fd97656854a7f359, the newest 4.3 tag the mirror
// here has), plus the two alarm gauges of
// src/collectors/prometheus_rabbitmq_alarm_metrics_collector.erl (prefix
// rabbitmq_alarms_) and rabbitmq_queue_info (emit_queue_info in
// prometheus_rabbitmq_core_metrics_collector.erl), at the same tag.
// Versions differ: 4.1 named the Raft metrics rabbitmq_raft_term_total,
// rabbitmq_raft_entry_commit_latency_seconds, … and had a file descriptor
// alarm gauge; 4.3 has rabbitmq_raft_term, rabbitmq_raft_commit_latency_seconds,
// … and no such gauge. On the aggregated /metrics 4.3 serves only the WAL and
// segment writer ones (wal_files, bytes_written, mem_tables, entries,
// segments; collect_key_component_metrics in
// prometheus_rabbitmq_raft_metrics_collector.erl); the per-queue ones come
// from /metrics/detailed?family=ra_metrics. The detailed endpoint serves
// every family under rabbitmq_detailed_ (DETAILED_METRIC_NAME_PREFIX in the
// core and raft collectors), which KnownPrometheus accepts for every name
// here. A broker upgrade revisits this list.
var RabbitMQ = []string{
	"rabbitmq_alarms_free_disk_space_watermark", "rabbitmq_alarms_memory_used_watermark",
	"rabbitmq_build_info", "rabbitmq_channel_acks_uncommitted", "rabbitmq_channel_consumers",
	"rabbitmq_channel_get_ack_total", "rabbitmq_channel_get_empty_total", "rabbitmq_channel_get_total",
	"rabbitmq_channel_messages_acked_total", "rabbitmq_channel_messages_confirmed_total",
	"rabbitmq_channel_messages_delivered_ack_total", "rabbitmq_channel_messages_delivered_total",
	"rabbitmq_channel_messages_published_total", "rabbitmq_channel_messages_redelivered_total",
	"rabbitmq_channel_messages_unacked", "rabbitmq_channel_messages_uncommitted",
	"rabbitmq_channel_messages_unconfirmed", "rabbitmq_channel_messages_unroutable_dropped_total",
	"rabbitmq_channel_messages_unroutable_returned_total", "rabbitmq_channel_prefetch",
	"rabbitmq_channel_process_reductions_total", "rabbitmq_channels", "rabbitmq_channels_closed_total",
	"rabbitmq_channels_opened_total", "rabbitmq_connection_channels",
	"rabbitmq_connection_incoming_bytes_total", "rabbitmq_connection_incoming_packets_total",
	"rabbitmq_connection_outgoing_bytes_total", "rabbitmq_connection_outgoing_packets_total",
	"rabbitmq_connection_pending_packets", "rabbitmq_connection_process_reductions_total",
	"rabbitmq_connections", "rabbitmq_connections_closed_total", "rabbitmq_connections_opened_total",
	"rabbitmq_consumer_prefetch", "rabbitmq_consumers", "rabbitmq_disk_space_available_bytes",
	"rabbitmq_disk_space_available_limit_bytes", "rabbitmq_erlang_gc_reclaimed_bytes_total",
	"rabbitmq_erlang_gc_runs_total", "rabbitmq_erlang_net_ticktime_seconds",
	"rabbitmq_erlang_processes_limit", "rabbitmq_erlang_processes_used",
	"rabbitmq_erlang_scheduler_context_switches_total", "rabbitmq_erlang_scheduler_run_queue",
	"rabbitmq_erlang_uptime_seconds", "rabbitmq_federation_links", "rabbitmq_global_consumers",
	"rabbitmq_global_messages_acknowledged_total", "rabbitmq_global_messages_confirmed_total",
	"rabbitmq_global_messages_dead_lettered_confirmed_total",
	"rabbitmq_global_messages_dead_lettered_delivery_limit_total",
	"rabbitmq_global_messages_dead_lettered_expired_total",
	"rabbitmq_global_messages_dead_lettered_maxlen_total",
	"rabbitmq_global_messages_dead_lettered_rejected_total",
	"rabbitmq_global_messages_delivered_consume_auto_ack_total",
	"rabbitmq_global_messages_delivered_consume_manual_ack_total",
	"rabbitmq_global_messages_delivered_get_auto_ack_total",
	"rabbitmq_global_messages_delivered_get_manual_ack_total",
	"rabbitmq_global_messages_delivered_total", "rabbitmq_global_messages_get_empty_total",
	"rabbitmq_global_messages_received_confirm_total", "rabbitmq_global_messages_received_total",
	"rabbitmq_global_messages_redelivered_total", "rabbitmq_global_messages_routed_total",
	"rabbitmq_global_messages_unroutable_dropped_total",
	"rabbitmq_global_messages_unroutable_returned_total", "rabbitmq_global_publishers",
	"rabbitmq_identity_info", "rabbitmq_io_read_bytes_total", "rabbitmq_io_read_ops_total",
	"rabbitmq_io_read_time_seconds_total", "rabbitmq_io_reopen_ops_total",
	"rabbitmq_io_seek_ops_total", "rabbitmq_io_seek_time_seconds_total", "rabbitmq_io_sync_ops_total",
	"rabbitmq_io_sync_time_seconds_total", "rabbitmq_io_write_bytes_total",
	"rabbitmq_io_write_ops_total", "rabbitmq_io_write_time_seconds_total",
	"rabbitmq_msg_store_read_total", "rabbitmq_msg_store_write_total", "rabbitmq_process_max_fds",
	"rabbitmq_process_open_fds", "rabbitmq_process_resident_memory_bytes",
	"rabbitmq_queue_consumer_utilisation", "rabbitmq_queue_consumers",
	"rabbitmq_queue_disk_reads_total", "rabbitmq_queue_disk_writes_total",
	"rabbitmq_queue_index_read_ops_total", "rabbitmq_queue_index_write_ops_total",
	"rabbitmq_queue_info", "rabbitmq_queue_messages", "rabbitmq_queue_messages_bytes",
	"rabbitmq_queue_messages_persistent", "rabbitmq_queue_messages_persistent_bytes",
	"rabbitmq_queue_messages_published_total", "rabbitmq_queue_messages_ram",
	"rabbitmq_queue_messages_ram_bytes", "rabbitmq_queue_messages_ready",
	"rabbitmq_queue_messages_ready_bytes", "rabbitmq_queue_messages_ready_ram",
	"rabbitmq_queue_messages_unacked", "rabbitmq_queue_messages_unacked_bytes",
	"rabbitmq_queue_messages_unacked_ram", "rabbitmq_queue_process_memory_bytes",
	"rabbitmq_queue_process_reductions_total", "rabbitmq_queues", "rabbitmq_queues_created_total",
	"rabbitmq_queues_declared_total", "rabbitmq_queues_deleted_total", "rabbitmq_raft_bytes_written",
	"rabbitmq_raft_commit_index", "rabbitmq_raft_commit_latency_seconds", "rabbitmq_raft_entries",
	"rabbitmq_raft_last_applied", "rabbitmq_raft_last_written_index", "rabbitmq_raft_mem_tables",
	"rabbitmq_raft_num_segments", "rabbitmq_raft_segments", "rabbitmq_raft_snapshot_index",
	"rabbitmq_raft_term", "rabbitmq_raft_wal_files", "rabbitmq_resident_memory_limit_bytes",
	"rabbitmq_schema_db_disk_tx_total", "rabbitmq_schema_db_ram_tx_total",
}

// Scrape lists the series Prometheus itself adds to every scrape target:
// https://prometheus.io/docs/concepts/jobs_instances/ ("Automatically
// generated labels and time series").
var Scrape = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added"}

// runtime is the set of go_* and process_* names the processor's /metrics
// serves: it registers client_golang's Go and process collectors
// (processor/metrics/metrics.go), so the set is read from those collectors
// here rather than listed.
var runtime = sync.OnceValue(func() map[string]bool {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	families, _ := r.Gather() // a family that failed is left out, and then reads as unknown
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		switch f.GetType().String() {
		case "HISTOGRAM":
			names[f.GetName()+"_bucket"], names[f.GetName()+"_sum"], names[f.GetName()+"_count"] = true, true, true
		case "SUMMARY":
			names[f.GetName()+"_sum"], names[f.GetName()+"_count"] = true, true
		}
	}
	return names
})

// KnownPrometheus reports whether a Prometheus metric is one hookline's
// code exposes (internal/metricnames, with the processor's go_* and
// process_*), one rabbitmq_prometheus documents (under rabbitmq_ or
// rabbitmq_detailed_), or one Prometheus adds to every scrape.
func KnownPrometheus(name string) bool {
	if metricnames.KnownProm(name) || slices.Contains(Scrape, name) || slices.Contains(RabbitMQ, name) {
		return true
	}
	if rest, ok := strings.CutPrefix(name, "rabbitmq_detailed_"); ok {
		return slices.Contains(RabbitMQ, "rabbitmq_"+rest)
	}
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return runtime()[name]
	}
	return false
}
