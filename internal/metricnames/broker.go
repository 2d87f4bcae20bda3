package metricnames

// BrokerNamespace is the CloudWatch namespace the broker nodes publish to
// themselves, with aws cloudwatch put-metric-data from the bootstrap's
// boot loop and its one-minute health timer (infra/broker/bootstrap,
// install.sh), by Node (the node's RabbitMQ name). It is lower case, unlike
// the other namespaces, because deployed alarms already watch it under this
// name; infra/broker declares its alarms on it.
const BrokerNamespace = "hookline/broker"

// NodeDimension is the broker metrics' one dimension.
const NodeDimension = "Node"

// The broker nodes' metrics.
const (
	// BrokerBooting is 1 every minute until the node's bootstrap finished,
	// then 0 once.
	BrokerBooting = "Booting"
	// BrokerReady is 1 when rabbitmq-diagnostics check_running and
	// check_port_connectivity pass, 0 otherwise.
	BrokerReady = "Ready"
	// BrokerMemoryUsedPercent is the host's memory in use
	// ((MemTotal − MemAvailable) / MemTotal, from /proc/meminfo).
	BrokerMemoryUsedPercent = "MemoryUsedPercent"
	// BrokerDataDiskUsedPercent is the data volume's use (df).
	BrokerDataDiskUsedPercent = "DataDiskUsedPercent"
)

// BrokerUnits are the units of the broker nodes' metrics (Booting and
// Ready are published without one).
var BrokerUnits = map[string]string{
	BrokerBooting:             "None",
	BrokerReady:               "None",
	BrokerMemoryUsedPercent:   "Percent",
	BrokerDataDiskUsedPercent: "Percent",
}
