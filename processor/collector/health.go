package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hookline/hookline/internal/queuemetrics"
)

// The broker's five health counts (internal/queuemetrics), read once per
// slot next to the queue figures. Each count is published only when it was
// read whole: a node that did not answer, answered garbage or left a series
// out makes that count unknown for the slot, and an unknown count is no
// datum at all (the alarms treat a missing datum as breaching), never a 0.
// Every failure is logged and handed to Options.HealthError with its
// reason (queuemetrics.HealthReasons).
//
//   - alarms (BrokerMemoryAlarm, BrokerDiskAlarm): every node's aggregated
//     rabbitmq_prometheus endpoint (/metrics), the untyped 0/1 gauges
//     rabbitmq_alarms_memory_used_watermark and
//     rabbitmq_alarms_free_disk_space_watermark, summed over the nodes.
//     Both RabbitMQ 3.10 and 4.x emit them from the node's local alarms, and
//     leave both out when reading the alarms times out (rabbitmq-server,
//     deps/rabbitmq_prometheus/src/collectors/prometheus_rabbitmq_alarm_metrics_collector.erl).
//   - queues (QuorumMembersMissing, QueuesWithoutLeader): one node's
//     management API, GET /api/queues/<vhost>?columns=…, the cluster's view
//     of every quorum queue's members, online members, leader and state
//     (rabbit_quorum_queue:format/2 on 4.x, format/1 on 3.10).
//   - nodes (Partitions): every node's management API, GET /api/overview
//     (its own name) and GET /api/nodes (the cluster as it sees it).
const (
	metricMemoryAlarm = "rabbitmq_alarms_memory_used_watermark"
	metricDiskAlarm   = "rabbitmq_alarms_free_disk_space_watermark"
)

// maxJSON bounds what the collector reads of a management API answer.
const maxJSON = 16 << 20

// healthBudget bounds one slot's health reads, all sources together: the
// sampling loop also renews the lease, so a broker that swallows requests
// must not hold it for long.
func (c *Collector) healthBudget() time.Duration { return max(c.o.Interval/4, 3*time.Second) }

// health reads the five counts, the three sources at once, and returns the
// data of those it could read; each failure is logged and counted.
func (c *Collector) health(ctx context.Context, now time.Time) []Datum {
	ctx, cancel := context.WithTimeout(ctx, c.healthBudget())
	defer cancel()
	type result struct {
		reason string
		data   []Datum
		err    error
	}
	sources := []func() result{func() result {
		a, err := c.alarms(ctx)
		return result{queuemetrics.HealthAlarms, []Datum{{queuemetrics.BrokerMemoryAlarm, a.memory, now}, {queuemetrics.BrokerDiskAlarm, a.disk, now}}, err}
	}}
	if len(c.o.Management) > 0 { // else membership and partitions are not read
		sources = append(sources, func() result {
			q, err := c.quorum(ctx)
			return result{queuemetrics.HealthQueues, []Datum{{queuemetrics.QuorumMembersMissing, q.membersMissing, now}, {queuemetrics.QueuesWithoutLeader, q.withoutLeader, now}}, err}
		}, func() result {
			p, err := c.partitions(ctx)
			return result{queuemetrics.HealthNodes, []Datum{{queuemetrics.Partitions, p, now}}, err}
		})
	}
	results := make([]result, len(sources))
	var wg sync.WaitGroup
	for i, read := range sources {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = read() }()
	}
	wg.Wait()
	var data []Datum
	for _, r := range results {
		if r.err != nil {
			c.o.Log.Warn("collector: broker health unknown, not published", "reason", r.reason, "err", r.err)
			if c.o.HealthError != nil {
				c.o.HealthError(r.reason)
			}
			continue
		}
		data = append(data, r.data...)
	}
	return data
}

// alarmCounts are how many nodes have each resource alarm raised.
type alarmCounts struct{ memory, disk float64 }

// alarms reads every node's /metrics; one node unread makes both counts
// unknown.
func (c *Collector) alarms(ctx context.Context) (alarmCounts, error) {
	var sum alarmCounts
	for _, ep := range c.o.Endpoints {
		body, err := c.get(ctx, strings.TrimRight(ep, "/")+"/metrics", "text/plain")
		if err != nil {
			return alarmCounts{}, err
		}
		a, err := parseAlarms(bytes.NewReader(body))
		if err != nil {
			return alarmCounts{}, fmt.Errorf("%s/metrics: %w", strings.TrimRight(ep, "/"), err)
		}
		sum.memory += a.memory
		sum.disk += a.disk
	}
	return sum, nil
}

var errNoAlarmSeries = errors.New("no resource alarm series (the node could not read its alarms)")

// parseAlarms reads one node's two alarm gauges; both must be there, each
// 0 or 1.
func parseAlarms(r io.Reader) (alarmCounts, error) {
	var a alarmCounts
	seen := map[string]bool{}
	err := eachSeries(r, func(name string, labels map[string]string, v float64) error {
		if name != metricMemoryAlarm && name != metricDiskAlarm {
			return nil
		}
		if seen[name] {
			return fmt.Errorf("%s twice", name)
		}
		if v != 0 && v != 1 {
			return fmt.Errorf("%s = %v; want 0 or 1", name, v)
		}
		seen[name] = true
		if name == metricMemoryAlarm {
			a.memory = v
		} else {
			a.disk = v
		}
		return nil
	})
	if err != nil {
		return alarmCounts{}, err
	}
	if !seen[metricMemoryAlarm] || !seen[metricDiskAlarm] {
		return alarmCounts{}, errNoAlarmSeries
	}
	return a, nil
}

// quorumCounts are the vhost's quorum queues' health.
type quorumCounts struct{ membersMissing, withoutLeader float64 }

// queueInfo is one queue of GET /api/queues/<vhost>.
type queueInfo struct {
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	State   string    `json:"state"`
	Leader  *string   `json:"leader"`
	Members *[]string `json:"members"`
	Online  *[]string `json:"online"`
}

// quorum asks the management endpoints in turn until one answers: any
// node's answer is the cluster's view.
func (c *Collector) quorum(ctx context.Context) (quorumCounts, error) {
	q := url.Values{"columns": {"name,type,state,leader,members,online"}}
	var errs []error
	for _, ep := range c.o.Management {
		body, err := c.get(ctx, strings.TrimRight(ep, "/")+"/api/queues/"+url.PathEscape(c.o.Vhost)+"?"+q.Encode(), "application/json")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		qc, err := parseQueues(body)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/api/queues: %w", strings.TrimRight(ep, "/"), err))
			continue
		}
		return qc, nil
	}
	return quorumCounts{}, errors.Join(errs...)
}

// parseQueues counts, over the quorum queues, the members that are not
// online and the queues without a leader: no leader named, a leader that is
// not among the online members, or a state RabbitMQ itself reports as not
// serving ("down": the leader's node is not running; "minority": fewer
// than a quorum online, 4.x).
func parseQueues(body []byte) (quorumCounts, error) {
	var qs []queueInfo
	if err := json.Unmarshal(body, &qs); err != nil {
		return quorumCounts{}, fmt.Errorf("not a queue list: %w", err)
	}
	var qc quorumCounts
	for _, q := range qs {
		if q.Type != "quorum" {
			continue
		}
		if q.Members == nil || q.Online == nil || q.Leader == nil {
			return quorumCounts{}, fmt.Errorf("quorum queue %q without members, online or leader", q.Name)
		}
		for _, m := range *q.Members {
			if !slices.Contains(*q.Online, m) {
				qc.membersMissing++
			}
		}
		if *q.Leader == "" || !slices.Contains(*q.Online, *q.Leader) || q.State == "down" || q.State == "minority" {
			qc.withoutLeader++
		}
	}
	return qc, nil
}

// nodeInfo is one node of GET /api/nodes as the answering node sees it.
type nodeInfo struct {
	Name       string    `json:"name"`
	Running    *bool     `json:"running"`
	Partitions *[]string `json:"partitions"` // absent: none
}

// partitions asks every node for its own name and its view of the
// cluster. A partition is a pair of nodes that both answer the collector
// while one of them sees the other as not running or lists it among its
// partitions (RabbitMQ up to 4.2 reports those; 4.3, with Khepri as its
// only metadata store, always reports none). Each pair counts once: on a
// healthy cluster and on one node the count is 0; one node cut off from
// two others is 2. A node that does not answer makes the count unknown.
func (c *Collector) partitions(ctx context.Context) (float64, error) {
	views := map[string][]nodeInfo{}
	for _, ep := range c.o.Management {
		base := strings.TrimRight(ep, "/")
		body, err := c.get(ctx, base+"/api/overview?columns=node", "application/json")
		if err != nil {
			return 0, err
		}
		var ov struct {
			Node string `json:"node"`
		}
		if err := json.Unmarshal(body, &ov); err != nil || ov.Node == "" {
			return 0, fmt.Errorf("%s/api/overview: no node name (%v)", base, err)
		}
		body, err = c.get(ctx, base+"/api/nodes?columns=name,running,partitions", "application/json")
		if err != nil {
			return 0, err
		}
		view, err := parseNodes(body)
		if err != nil {
			return 0, fmt.Errorf("%s/api/nodes: %w", base, err)
		}
		views[ov.Node] = view
	}
	return countPartitions(views), nil
}

func parseNodes(body []byte) ([]nodeInfo, error) {
	var ns []nodeInfo
	if err := json.Unmarshal(body, &ns); err != nil {
		return nil, fmt.Errorf("not a node list: %w", err)
	}
	if len(ns) == 0 {
		return nil, errors.New("no node listed")
	}
	for i, n := range ns {
		if n.Name == "" || n.Running == nil {
			return nil, fmt.Errorf("node %q without name or running", n.Name)
		}
		if n.Partitions == nil {
			// 4.3 with the management metrics collector disabled lists
			// name, type, running and being_drained only
			// (rabbit_mgmt_wm_nodes:all_nodes_raw/0); its partitions
			// list is always empty anyway.
			ns[i].Partitions = &[]string{}
		}
	}
	return ns, nil
}

// countPartitions counts the pairs of answering nodes (views' keys) that
// do not see each other whole.
func countPartitions(views map[string][]nodeInfo) float64 {
	split := map[[2]string]bool{}
	for self, view := range views {
		cut := func(peer string) {
			if _, answered := views[peer]; !answered || peer == self {
				return
			}
			pair := [2]string{min(self, peer), max(self, peer)}
			split[pair] = true
		}
		for _, n := range view {
			if !*n.Running {
				cut(n.Name)
			}
			if n.Name == self {
				for _, p := range *n.Partitions {
					cut(p)
				}
			}
		}
	}
	return float64(len(split))
}

// get reads one answer of a broker endpoint as the collector's user, within
// ctx (the slot's health budget; the client's own timeout besides).
func (c *Collector) get(ctx context.Context, u, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if c.o.Username != "" {
		req.SetBasicAuth(c.o.Username, c.o.Password)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.o.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // drained for reuse; the status is the error
		return nil, fmt.Errorf("%s: %s", redact(req.URL), resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", redact(req.URL), err)
	}
	if len(b) > maxJSON {
		return nil, fmt.Errorf("%s: answer over %d bytes", redact(req.URL), maxJSON)
	}
	return b, nil
}
