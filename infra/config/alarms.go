package config

import (
	"reflect"
	"strings"
)

// Alarms is where the stack's one SNS alarm topic delivers, and what its
// alarms page on.
type Alarms struct {
	// PagerDutyEndpoint is a PagerDuty Amazon CloudWatch integration URL
	// (https://events.pagerduty.com/integration/<key>/enqueue), set with
	// `pulumi config set --secret hookline:pagerDutyEndpoint`; empty: the
	// topic has no subscription (subscribe by hand).
	PagerDutyEndpoint string `json:"-" config:"pagerDutyEndpoint,secret"`
	// Thresholds are the alarms' thresholds (hookline:alarms): any of
	// them, over the profile's defaults. docs/alarms.md says what each
	// alarm watches.
	Thresholds `config:"alarms"`
}

// Thresholds are the values the stack's alarms compare with (infra/alarms).
// Periods and evaluation are fixed per alarm (docs/alarms.md), except the
// backlog's, which is a duration itself. Every value is above zero.
type Thresholds struct {
	DatabaseCPUPercent         float64 `json:"databaseCpuPercent"`         // RDS CPUUtilization, average over 15 minutes
	DatabaseFreeStoragePercent float64 `json:"databaseFreeStoragePercent"` // FreeStorageSpace below this share of the allocated storage
	DatabaseFreeMemoryMiB      float64 `json:"databaseFreeMemoryMiB"`      // FreeableMemory minimum
	DatabaseConnections        float64 `json:"databaseConnections"`        // about 80 % of the class's max_connections
	DatabaseLatencySeconds     float64 `json:"databaseLatencySeconds"`     // ReadLatency / WriteLatency average
	CacheCPUPercent            float64 `json:"cacheCpuPercent"`            // EngineCPUUtilization average
	CacheMemoryPercent         float64 `json:"cacheMemoryPercent"`         // DatabaseMemoryUsagePercentage average
	CacheConnections           float64 `json:"cacheConnections"`           // CurrConnections maximum
	CacheReplicationLagSeconds float64 `json:"cacheReplicationLagSeconds"` // ReplicationLag maximum (replicas only)
	LambdaErrors               float64 `json:"lambdaErrors"`               // Errors in 5 minutes
	LambdaDurationShare        float64 `json:"lambdaDurationShare"`        // p99 Duration above this share of the timeout (0-1]
	LambdaConcurrencyShare     float64 `json:"lambdaConcurrencyShare"`     // ConcurrentExecutions above this share of the reservation (0-1]
	NatPacketsDropped          float64 `json:"natPacketsDropped"`          // PacketsDropCount in 5 minutes
	NatBytesPerMinute          float64 `json:"natBytesPerMinute"`          // BytesOutToDestination per minute

	ServiceCPUPercent    float64 `json:"serviceCpuPercent"`    // processor service CPUUtilization, average over 15 minutes
	ServiceMemoryPercent float64 `json:"serviceMemoryPercent"` // processor service MemoryUtilization, average over 15 minutes

	APIErrorPercent    float64 `json:"apiErrorPercent"`     // API Gateway 5xx share of requests, 5 minutes
	APIClientPercent   float64 `json:"apiClientPercent"`    // API Gateway 4xx share of requests, 5 minutes, twice
	APIMinRequests     float64 `json:"apiMinRequests"`      // requests in 5 minutes below which neither share pages
	APILatencyP99Milli float64 `json:"apiLatencyP99Millis"` // API Gateway p99 Latency, 15 minutes

	RejectedSignature float64 `json:"rejectedSignature"` // receiver 401s in 5 minutes, twice (a sender's secret)
	RejectedOrigin    float64 `json:"rejectedOrigin"`    // receiver 403s in 5 minutes, twice (the origin secret or a host)
	PublishFailures   float64 `json:"publishFailures"`   // receiver 503s in 5 minutes
	InternalErrors    float64 `json:"internalErrors"`    // receiver 500s in 5 minutes
	VerifyUnavailable float64 `json:"verifyUnavailable"` // receiver 503s for an unreachable JWKS or SNS certificate in 5 minutes, twice
	Handshakes        float64 `json:"handshakes"`        // receiver handshakes answered in 5 minutes, three times (a provider re-verifying in a loop, or a flood)

	CanaryFailures float64 `json:"canaryFailures"` // failed canary runs (no 2xx) per canary interval, canaryPeriods intervals in a row
	CanaryPeriods  float64 `json:"canaryPeriods"`  // canary intervals in a row either canary alarm needs (a whole number; intervals times periods at most a day)

	CallbackFailures float64 `json:"callbackFailures"` // processor callbacks given up (failed after every try, or refused) in 5 minutes

	BacklogDrainMinutes float64 `json:"backlogDrainMinutes"` // time to drain webhooks.inbound at the current rate, 5 minutes in a row

	BrokerCPUPercent    float64 `json:"brokerCpuPercent"`    // broker node CPUUtilization, average over 15 minutes
	BrokerMemoryPercent float64 `json:"brokerMemoryPercent"` // broker node MemoryUsedPercent (its health timer), 15 minutes
	BrokerDiskPercent   float64 `json:"brokerDiskPercent"`   // broker data volume DataDiskUsedPercent (its health timer)
}

func (c Config) validateAlarms() error {
	v := reflect.ValueOf(c.Alarms.Thresholds)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
		x := v.Field(i).Float()
		switch {
		case x <= 0:
			return keyErr("alarms."+key, "%v is not above 0; accepts a number above 0", x)
		case strings.HasSuffix(key, "Share") && x > 1:
			return keyErr("alarms."+key, "%v is over 1; accepts a share above 0 and at most 1", x)
		case strings.HasSuffix(key, "Percent") && x > 100:
			return keyErr("alarms."+key, "%v is over 100; accepts a percentage above 0 and at most 100", x)
		}
	}
	return nil
}
