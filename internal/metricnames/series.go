package metricnames

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hookline/hookline/internal/queuemetrics"
)

// External reports whether namespace is published by AWS (the AWS/*
// namespaces and Container Insights), not by this code: its metric names
// are AWS's and not listed here.
func External(namespace string) bool {
	return strings.HasPrefix(namespace, "AWS/") || namespace == "ECS/ContainerInsights"
}

// DimensionSets are the sets of dimension names the code publishes metric
// name in namespace under, each set sorted; every set is a series of its
// own in CloudWatch, so an alarm or a graph must name exactly one of them.
// Nil: the code publishes no such metric.
func DimensionSets(namespace, name string) [][]string {
	if !Known(namespace, name) {
		return nil
	}
	switch {
	case namespace == ReceiverNamespace && name == Rejected:
		// Rejections by source and stack-wide, each by Status.
		return sorted([]string{StackDimension, SourceDimension, StatusDimension}, []string{StackDimension, StatusDimension})
	case namespace == ReceiverNamespace:
		// Every receiver line is by source and stack-wide (lambda/receiver).
		return sorted([]string{StackDimension, SourceDimension}, []string{StackDimension})
	case namespace == ProcessorNamespace:
		// One line under Stack, one more per label value (processor/metrics).
		sets := [][]string{{StackDimension}}
		if pm, _ := processorMetric(name); pm.Dimension != "" {
			sets = append(sets, []string{StackDimension, pm.Dimension})
		}
		return sorted(sets...)
	case namespace == queuemetrics.Namespace:
		return [][]string{{queuemetrics.StackDimension}}
	case namespace == BrokerNamespace:
		return [][]string{{NodeDimension}}
	case namespace == CanaryNamespace:
		// One line per run, stack-wide and by its answer (lambda/canary/probe).
		return sorted([]string{StackDimension}, []string{StackDimension, StatusClassDimension})
	default: // a log metric filter cannot add a dimension
		return [][]string{{}}
	}
}

// DimensionValues are the values the code gives dimension of metric name
// in namespace, where it gives a fixed few (a processor counter's label);
// nil where any value is possible (a stack, a source, a status).
func DimensionValues(namespace, name, dimension string) []string {
	if namespace == CanaryNamespace && dimension == StatusClassDimension && Known(namespace, name) {
		return CanaryStatusClasses
	}
	if namespace != ProcessorNamespace {
		return nil
	}
	if pm, ok := processorMetric(name); ok && pm.Dimension == dimension {
		return pm.Values
	}
	return nil
}

// Check returns nil when a CloudWatch metric with namespace, name and
// dimensions (name → value) is one the code publishes, or is AWS's, and
// otherwise an error that names what the code does not publish: the
// namespace, the metric name, the set of dimension names or a dimension's
// value. An alarm or a graph on such a metric would show nothing.
func Check(namespace, name string, dimensions map[string]string) error {
	if External(namespace) {
		return nil
	}
	metrics, ok := CloudWatch[namespace]
	if strings.HasPrefix(namespace, LogNamespacePrefix) && len(namespace) > len(LogNamespacePrefix) {
		metrics, ok = LogUnits, true
	}
	if !ok {
		return fmt.Errorf("namespace %q: the code publishes no metric there (its namespaces: %s, %s<stack>)",
			namespace, strings.Join(sortedKeys(CloudWatch), ", "), LogNamespacePrefix)
	}
	if _, ok := metrics[name]; !ok {
		return fmt.Errorf("%s metric %q: the code publishes no such metric in this namespace (it publishes %s)",
			namespace, name, strings.Join(sortedKeys(metrics), ", "))
	}
	names := make([]string, 0, len(dimensions))
	for d := range dimensions {
		names = append(names, d)
	}
	sort.Strings(names)
	sets := DimensionSets(namespace, name)
	if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, names) }) {
		return fmt.Errorf("%s %s dimensions [%s]: the code publishes it under %s only",
			namespace, name, strings.Join(names, " "), formatSets(sets))
	}
	for _, d := range names {
		if values := DimensionValues(namespace, name, d); values != nil && !slices.Contains(values, dimensions[d]) {
			return fmt.Errorf("%s %s dimension %s=%q: the code counts %s=%s only",
				namespace, name, d, dimensions[d], d, strings.Join(values, "|"))
		}
	}
	return nil
}

// Series is one metric the code publishes: a namespace and a name (the
// log metrics' namespace is per stack).
type Series struct{ Namespace, Name string }

// Published lists every metric the code (and its log metric filter)
// publishes for stack, sorted.
func Published(stack string) []Series {
	var out []Series
	for ns, metrics := range CloudWatch {
		for n := range metrics {
			out = append(out, Series{ns, n})
		}
	}
	for n := range LogUnits {
		out = append(out, Series{LogNamespace(stack), n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func processorMetric(name string) (ProcessorMetric, bool) {
	for _, pm := range Processor {
		if pm.CloudWatch == name {
			return pm, true
		}
	}
	return ProcessorMetric{}, false
}

func sorted(sets ...[]string) [][]string {
	for _, s := range sets {
		sort.Strings(s)
	}
	return sets
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func formatSets(sets [][]string) string {
	parts := make([]string, len(sets))
	for i, s := range sets {
		parts[i] = "[" + strings.Join(s, " ") + "]"
	}
	return strings.Join(parts, " or ")
}
