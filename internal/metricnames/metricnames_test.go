package metricnames_test

import (
	"strings"
	"testing"

	"github.com/hookline/hookline/internal/metricnames"
	"github.com/hookline/hookline/internal/queuemetrics"
)

// TestListIsWellFormed: every listed CloudWatch metric has a unit
// CloudWatch accepts, the queue collector's metrics are in the list (not a
// copy of it), and Prometheus names follow Prometheus naming.
func TestListIsWellFormed(t *testing.T) {
	units := map[string]bool{"Count": true, "Count/Second": true, "Milliseconds": true, "Seconds": true, "Bytes": true, "Percent": true, "None": true}
	for ns, metrics := range metricnames.CloudWatch {
		if !strings.HasPrefix(ns, "Hookline/") && ns != metricnames.BrokerNamespace {
			t.Errorf("namespace %q: want Hookline/…", ns)
		}
		for name, unit := range metrics {
			if !units[unit] {
				t.Errorf("%s/%s: unit %q", ns, name, unit)
			}
		}
	}
	for _, n := range []string{queuemetrics.InboundDepth, queuemetrics.IngestRate, queuemetrics.ConsumeRate, queuemetrics.DeadDepth,
		queuemetrics.BrokerMemoryAlarm, queuemetrics.BrokerDiskAlarm, queuemetrics.QuorumMembersMissing,
		queuemetrics.QueuesWithoutLeader, queuemetrics.Partitions} {
		if !metricnames.Known(queuemetrics.Namespace, n) {
			t.Errorf("%s missing from the list", n)
		}
	}
	if metricnames.Known(metricnames.ReceiverNamespace, "Nope") || metricnames.Known("Other/NS", metricnames.Accepted) {
		t.Error("Known accepts what the code does not emit")
	}
	for _, n := range metricnames.Prometheus {
		if !strings.HasPrefix(n, "hookline_receiver_") {
			t.Errorf("%s: want the hookline_receiver_ prefix", n)
		}
	}
	for _, n := range []string{metricnames.PromAccepted, "hookline_processor_acked_total", "hookline_processor_batch_duration_seconds_bucket", "hookline_receiver_body_bytes_count"} {
		if !metricnames.KnownProm(n) {
			t.Errorf("KnownProm(%s) = false", n)
		}
	}
	for _, n := range []string{"hookline_processor_nope_total", "hookline_processor_acked_total_bucket", "rabbitmq_queue_messages"} {
		if metricnames.KnownProm(n) {
			t.Errorf("KnownProm(%s) = true", n)
		}
	}
}

// TestProcessorTable: Prometheus naming by kind and unit (a counter ends in
// _total, seconds in _seconds, bytes in _bytes), names unique on both
// sides, and a dimension exactly where a label is.
func TestProcessorTable(t *testing.T) {
	prom, cw := map[string]bool{}, map[string]bool{}
	for _, m := range metricnames.Processor {
		if prom[m.Prom] || cw[m.CloudWatch] {
			t.Errorf("%s / %s listed twice", m.Prom, m.CloudWatch)
		}
		prom[m.Prom], cw[m.CloudWatch] = true, true
		if !metricnames.Known(metricnames.ProcessorNamespace, m.CloudWatch) {
			t.Errorf("%s not Known", m.CloudWatch)
		}
		if (m.Kind == metricnames.Counter) != strings.HasSuffix(m.Prom, "_total") {
			t.Errorf("%s: counters and only counters end in _total", m.Prom)
		}
		if (m.Unit == "Seconds") != strings.HasSuffix(m.Prom, "_seconds") {
			t.Errorf("%s: unit %s and the _seconds suffix go together", m.Prom, m.Unit)
		}
		if m.Unit == "Bytes" && !strings.Contains(m.Prom, "_bytes") {
			t.Errorf("%s: bytes without _bytes", m.Prom)
		}
		if (m.Label == "") != (m.Dimension == "") {
			t.Errorf("%s: label %q, dimension %q", m.Prom, m.Label, m.Dimension)
		}
	}
}

// TestCheck: what the code publishes passes, AWS's namespaces are not
// judged, and a wrong namespace, name, dimension set or label value fails
// with a message that names the wrong part.
func TestCheck(t *testing.T) {
	stack := map[string]string{"Stack": "hookline-prod"}
	ok := []struct {
		ns, name string
		dims     map[string]string
	}{
		{"Hookline/Receiver", "Accepted", stack},
		{"Hookline/Receiver", "VerifyUnavailable", map[string]string{"Stack": "s", "Source": "okta"}},
		{"Hookline/Receiver", "Rejected", map[string]string{"Stack": "s", "Status": "401"}},
		{"Hookline/Processor", "Callbacks", stack},
		{"Hookline/Processor", "Callbacks", map[string]string{"Stack": "s", "Result": "failed"}},
		{"Hookline/Processor", "EndToEnd", stack},
		{"Hookline/Queues", "InboundDepth", stack},
		{"hookline/broker", "Booting", map[string]string{"Node": "hookline-prod-rabbitmq-1"}},
		{"Hookline/Logs/hookline-prod", "ReceiverInitFailures", nil},
		{"AWS/RDS", "CPUUtilization", map[string]string{"DBInstanceIdentifier": "db"}},
		{"ECS/ContainerInsights", "RunningTaskCount", nil},
	}
	for _, c := range ok {
		if err := metricnames.Check(c.ns, c.name, c.dims); err != nil {
			t.Errorf("Check(%s, %s, %v): %v", c.ns, c.name, c.dims, err)
		}
	}
	bad := []struct {
		ns, name string
		dims     map[string]string
		names    []string // each in the message
	}{
		{"Hookline/Reciever", "Accepted", stack, []string{`"Hookline/Reciever"`, "Hookline/Receiver"}},
		{"Hookline/Logs/", "ReceiverInitFailures", nil, []string{`"Hookline/Logs/"`}},
		{"Hookline/Receiver", "VerifyUnavaliable", stack, []string{`"VerifyUnavaliable"`, "VerifyUnavailable"}},
		{"Hookline/Processor", "CallbackFailures", stack, []string{`"CallbackFailures"`}},
		{"Hookline/Queues", "Accepted", stack, []string{`"Accepted"`, "Hookline/Queues"}},
		{"Hookline/Receiver", "Rejected", stack, []string{"Rejected dimensions [Stack]", "[Stack Status]"}},
		{"Hookline/Receiver", "Accepted", map[string]string{"Stack": "s", "Satus": "401"}, []string{"[Satus Stack]"}},
		{"Hookline/Processor", "Acked", map[string]string{"Stack": "s", "Result": "ok"}, []string{"[Result Stack]", "[Stack]"}},
		{"Hookline/Processor", "Callbacks", map[string]string{"Stack": "s", "Result": "Failed"}, []string{`Result="Failed"`, "failed"}},
		{"Hookline/Queues", "DeadDepth", map[string]string{"stack": "s"}, []string{"[stack]"}},
		{"hookline/broker", "Booting", map[string]string{"NodeId": "n"}, []string{"[NodeId]", "[Node]"}},
	}
	for _, c := range bad {
		err := metricnames.Check(c.ns, c.name, c.dims)
		if err == nil {
			t.Errorf("Check(%s, %s, %v) = nil; want an error", c.ns, c.name, c.dims)
			continue
		}
		for _, n := range c.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("Check(%s, %s, %v) = %q; want it to name %s", c.ns, c.name, c.dims, err, n)
			}
		}
	}
}

// TestPublishedIsTheList: Published lists every CloudWatch metric and the
// stack's log metrics, each known.
func TestPublishedIsTheList(t *testing.T) {
	n := 0
	for _, m := range metricnames.CloudWatch {
		n += len(m)
	}
	got := metricnames.Published("hookline-dev")
	if len(got) != n+len(metricnames.LogUnits) {
		t.Errorf("%d series; want %d", len(got), n+len(metricnames.LogUnits))
	}
	for _, s := range got {
		if !metricnames.Known(s.Namespace, s.Name) || metricnames.DimensionSets(s.Namespace, s.Name) == nil {
			t.Errorf("%v: not known, or no dimension set", s)
		}
	}
}
