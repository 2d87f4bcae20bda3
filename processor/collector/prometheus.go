package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// What the collector reads from rabbitmq_prometheus's /metrics/detailed
// (the aggregated /metrics has no per-queue figures unless the broker sets
// prometheus.return_per_object_metrics, which is expensive on every scrape):
//
//   - depth, every version: family queue_coarse_metrics,
//     rabbitmq_detailed_queue_messages{vhost,queue} = ready + unacked.
//   - publishes into and acks on a queue, RabbitMQ 4.1 and later: families
//     queue_exchange_metrics and queue_delivery_metrics,
//     rabbitmq_detailed_queue_exchange_messages_published_total{vhost,exchange,queue}
//     and rabbitmq_detailed_queue_messages_acked_total{vhost,queue}, one
//     counter per queue that outlives the channels that moved the messages.
//   - the same before 4.1 (3.10 here): families channel_queue_exchange_metrics
//     and channel_queue_metrics, rabbitmq_detailed_queue_messages_published_total
//     {channel,queue_vhost,queue,exchange_vhost,exchange} and
//     rabbitmq_detailed_channel_messages_acked_total{channel,vhost,queue}: one
//     counter per channel, which disappears when its channel closes.
//
// One request asks for all five families; where the per-queue families are
// present the per-channel ones are ignored.
var families = []string{
	"queue_coarse_metrics",
	"queue_exchange_metrics", "queue_delivery_metrics",
	"channel_queue_exchange_metrics", "channel_queue_metrics",
}

const (
	metricDepth            = "rabbitmq_detailed_queue_messages"
	metricPublished        = "rabbitmq_detailed_queue_exchange_messages_published_total"
	metricAcked            = "rabbitmq_detailed_queue_messages_acked_total"
	metricChannelPublished = "rabbitmq_detailed_queue_messages_published_total"
	metricChannelAcked     = "rabbitmq_detailed_channel_messages_acked_total"
)

// sample is one scrape of one broker node, for the queues the collector
// watches: depth gauges and the counters behind the rates, each counter
// keyed by its series (its full label set) so that a reset or a vanished
// channel shows as such.
type sample struct {
	depth     map[string]float64 // queue → ready + unacked
	published map[string]float64 // series → counter, publishes into the watched inbound queue
	acked     map[string]float64 // series → counter, acks on the watched inbound queue
}

// scrape reads one node's detailed endpoint for vhost.
func scrape(ctx context.Context, client *http.Client, base, vhost, user, pass, inbound string) (sample, error) {
	q := url.Values{"vhost": {vhost}, "family": families}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics/detailed?"+q.Encode(), nil)
	if err != nil {
		return sample{}, err
	}
	if user != "" {
		// rabbitmq_prometheus (3.13+) with prometheus.authentication.enabled
		// admits users tagged monitoring; without it the header is ignored.
		req.SetBasicAuth(user, pass)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) // drained for reuse; the status is the error
		return sample{}, fmt.Errorf("%s: %s", redact(req.URL), resp.Status)
	}
	return parse(resp.Body, vhost, inbound)
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	return c.String()
}

// parse reads the Prometheus text format and keeps the series of vhost
// that the collector needs.
func parse(r io.Reader, vhost, inbound string) (sample, error) {
	s := sample{depth: map[string]float64{}, published: map[string]float64{}, acked: map[string]float64{}}
	channelPublished, channelAcked := map[string]float64{}, map[string]float64{}
	perQueue := false // the broker declared the 4.1+ per-queue counter families
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if f := strings.Fields(line); len(f) >= 3 && f[1] == "TYPE" && (f[2] == metricPublished || f[2] == metricAcked) {
				perQueue = true
			}
			continue
		}
		name, labels, value, err := parseLine(line)
		if err != nil {
			return sample{}, err
		}
		if name == "" {
			continue
		}
		switch name {
		case metricDepth:
			if labels["vhost"] == vhost {
				s.depth[labels["queue"]] = value
			}
		case metricPublished:
			if labels["vhost"] == vhost && labels["queue"] == inbound {
				s.published[seriesKey(labels)] = value
			}
		case metricAcked:
			if labels["vhost"] == vhost && labels["queue"] == inbound {
				s.acked[seriesKey(labels)] = value
			}
		case metricChannelPublished:
			if labels["queue_vhost"] == vhost && labels["queue"] == inbound {
				channelPublished[seriesKey(labels)] = value
			}
		case metricChannelAcked:
			if labels["vhost"] == vhost && labels["queue"] == inbound {
				channelAcked[seriesKey(labels)] = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return sample{}, err
	}
	if !perQueue {
		s.published, s.acked = channelPublished, channelAcked
	}
	return s, nil
}

// eachSeries calls fn for every sample of a Prometheus text exposition
// (comments and blank lines skipped); a malformed line or fn's error stops
// it.
func eachSeries(r io.Reader, fn func(name string, labels map[string]string, value float64) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		name, labels, value, err := parseLine(sc.Text())
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		if err := fn(name, labels, value); err != nil {
			return err
		}
	}
	return sc.Err()
}

// seriesKey identifies a series by its sorted labels.
func seriesKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}

var errSyntax = errors.New("prometheus text: malformed line")

// parseLine reads `name{label="value",…} value [timestamp]`; blank lines
// give an empty name.
func parseLine(line string) (name string, labels map[string]string, value float64, err error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", nil, 0, nil
	}
	i := strings.IndexAny(line, "{ \t")
	if i <= 0 {
		return "", nil, 0, fmt.Errorf("%w: %.80q", errSyntax, line)
	}
	name, rest := line[:i], line[i:]
	labels = map[string]string{}
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, " \t,")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return "", nil, 0, fmt.Errorf("%w: %.80q", errSyntax, line)
			}
			key := strings.TrimSpace(rest[:eq])
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest, closed = rest[j+1:], true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return "", nil, 0, fmt.Errorf("%w: %.80q", errSyntax, line)
			}
			labels[key] = val.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 || len(f) > 2 {
		return "", nil, 0, fmt.Errorf("%w: %.80q", errSyntax, line)
	}
	value, err = strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", nil, 0, fmt.Errorf("%w: %.80q", errSyntax, line)
	}
	return name, labels, value, nil
}
