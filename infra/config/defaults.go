package config

import "github.com/hookline/hookline/infra/broker/bootstrap"

// Defaults are the stack table of DESIGN.md, in one place. A stack file
// overrides any of them; the AZs, CIDR and owner have no default on purpose:
// each stack names them.
func Defaults(profile string) Config {
	if profile == "prod" {
		return Config{
			Network: Network{
				NatGateways:          -1, // one per AZ
				PublicPrefix:         24,
				ComputePrefix:        20,
				DatabasePrefix:       24,
				InterfaceEndpoints:   []string{"secretsmanager", "ecr.api", "ecr.dkr", "logs", "ssm", "ssmmessages", "ec2messages"},
				FlowLogRetentionDays: 365,
			},
			Database: Database{
				Engine:              "mariadb",
				EngineVersion:       "10.11",
				InstanceClass:       "db.m7g.large",
				AllocatedStorageGiB: 100,
				MaxStorageGiB:       500,
				MultiAZ:             true,
				BackupRetentionDays: 14,
				DeletionProtection:  true,
				FinalSnapshot:       true,
				PerformanceInsights: true,
				MaintenanceWindow:   "sun:05:00-sun:06:00",
				BackupWindow:        "03:00-04:00",
				LogRetentionDays:    365,
				Name:                "hookline",
				MasterUsername:      "hookline_admin",
				ProcessorUsername:   "hookline_processor",
			},
			Cache: Cache{
				NodeType:              "cache.m7g.large",
				EngineVersion:         "7.1",
				Replicas:              1,
				SnapshotRetentionDays: 7,
			},
			Broker: Broker{
				Nodes:            1,
				InstanceType:     "m7g.large",
				AMIParameter:     "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
				DataVolumeGiB:    100,
				Image:            bootstrap.DefaultImage,
				Vhost:            "hookline",
				DeliveryLimit:    20,
				LogRetentionDays: 365,
			},
			Processor: Processor{
				CPU:                1024,
				MemoryMiB:          2048,
				MinTasks:           2,
				MaxTasks:           20,
				Prefetch:           400,
				Concurrency:        8,
				StopTimeoutSeconds: 60,
				LogRetentionDays:   365,
				// A backlog or CPU at 90 % adds two tasks of twenty at a time.
				BacklogStep:             2,
				CPU80Step:               1,
				CPU90Step:               2,
				ScaleOutCooldownSeconds: 120,
				ScaleInCooldownSeconds:  300,
			},
			Receiver: Receiver{
				MemoryMiB:           512,
				ReservedConcurrency: 200,
				TimeoutSeconds:      15,
				LogRetentionDays:    365,
			},
			Canary: Canary{Enabled: true, IntervalMinutes: 1, TimeoutSeconds: 10, LogRetentionDays: 365},
			Alarms: Alarms{Thresholds: Thresholds{
				DatabaseCPUPercent:         80,
				DatabaseFreeStoragePercent: 5, // storage autoscaling acts at 10 %: below 5 % it could not
				DatabaseFreeMemoryMiB:      512,
				DatabaseConnections:        540, // db.m7g.large: max_connections about 680
				DatabaseLatencySeconds:     0.02,
				CacheCPUPercent:            80,
				CacheMemoryPercent:         80,
				CacheConnections:           5000,
				CacheReplicationLagSeconds: 5,
				LambdaErrors:               1,
				LambdaDurationShare:        0.8,
				LambdaConcurrencyShare:     0.8,
				NatPacketsDropped:          1000,
				NatBytesPerMinute:          0.8 * 100e9 / 8 * 60, // 80 % of 100 Gbit/s, a NAT gateway's most
				ServiceCPUPercent:          90,                   // scaling adds tasks from 80 %: paging means it could not
				ServiceMemoryPercent:       85,
				APIErrorPercent:            1,
				APIClientPercent:           25,
				APIMinRequests:             50,
				APILatencyP99Milli:         3000,
				RejectedSignature:          20,
				RejectedOrigin:             20,
				PublishFailures:            1,
				InternalErrors:             1,
				VerifyUnavailable:          1,
				Handshakes:                 100, // a few an hour is normal (x's hourly CRC, a subscription's validation)
				CallbackFailures:           1,
				CanaryFailures:             1, // every failed run counts: the canary is one request per interval
				CanaryPeriods:              5, // five minutes without an arrival (one run a minute): a lost run or two (a redeploy, a cold start over the timeout, EventBridge's jitter moving a run into the next minute) do not page
				BacklogDrainMinutes:        15,
				BrokerCPUPercent:           80,
				BrokerMemoryPercent:        85, // RabbitMQ blocks publishers at 60 % (its watermark); the host's own use on top
				BrokerDiskPercent:          80,
			}},
		}
	}
	return Config{
		Network: Network{
			NatGateways:          1,
			PublicPrefix:         24,
			ComputePrefix:        20,
			DatabasePrefix:       24,
			InterfaceEndpoints:   nil, // dev reaches AWS APIs through its NAT gateway
			FlowLogRetentionDays: 30,
		},
		Database: Database{
			Engine:              "mariadb",
			EngineVersion:       "10.11",
			InstanceClass:       "db.t4g.micro",
			AllocatedStorageGiB: 20,
			MaxStorageGiB:       100,
			MultiAZ:             false,
			BackupRetentionDays: 1,
			DeletionProtection:  false,
			FinalSnapshot:       false,
			PerformanceInsights: false,
			MaintenanceWindow:   "sun:05:00-sun:06:00",
			BackupWindow:        "03:00-04:00",
			LogRetentionDays:    30,
			Name:                "hookline",
			MasterUsername:      "hookline_admin",
			ProcessorUsername:   "hookline_processor",
		},
		Cache: Cache{
			NodeType:              "cache.t4g.micro",
			EngineVersion:         "7.1",
			Replicas:              0,
			SnapshotRetentionDays: 1,
		},
		Broker: Broker{
			Nodes:            1,
			InstanceType:     "t4g.small",
			AMIParameter:     "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
			DataVolumeGiB:    20,
			Image:            bootstrap.DefaultImage,
			Vhost:            "hookline",
			DeliveryLimit:    20,
			LogRetentionDays: 30,
		},
		Processor: Processor{
			CPU:                     256,
			MemoryMiB:               512,
			MinTasks:                1,
			MaxTasks:                3,
			Prefetch:                200,
			Concurrency:             4,
			StopTimeoutSeconds:      30,
			LogRetentionDays:        30,
			BacklogStep:             1,
			CPU80Step:               1,
			CPU90Step:               1,
			ScaleOutCooldownSeconds: 120,
			ScaleInCooldownSeconds:  300,
		},
		Receiver: Receiver{
			MemoryMiB:           256,
			ReservedConcurrency: 20,
			TimeoutSeconds:      15,
			LogRetentionDays:    30,
		},
		Canary: Canary{Enabled: true, IntervalMinutes: 1, TimeoutSeconds: 10, LogRetentionDays: 30},
		Alarms: Alarms{Thresholds: Thresholds{
			DatabaseCPUPercent:         80,
			DatabaseFreeStoragePercent: 5,
			DatabaseFreeMemoryMiB:      64,
			DatabaseConnections:        65, // db.t4g.micro: max_connections about 85
			DatabaseLatencySeconds:     0.05,
			CacheCPUPercent:            80,
			CacheMemoryPercent:         80,
			CacheConnections:           500,
			CacheReplicationLagSeconds: 5,
			LambdaErrors:               5,
			LambdaDurationShare:        0.8,
			LambdaConcurrencyShare:     0.8,
			NatPacketsDropped:          1000,
			NatBytesPerMinute:          0.8 * 100e9 / 8 * 60,
			ServiceCPUPercent:          90,
			ServiceMemoryPercent:       85,
			APIErrorPercent:            5,
			APIClientPercent:           50,
			APIMinRequests:             10,
			APILatencyP99Milli:         5000,
			RejectedSignature:          20,
			RejectedOrigin:             20,
			PublishFailures:            5,
			InternalErrors:             1,
			VerifyUnavailable:          1,
			Handshakes:                 100,
			CallbackFailures:           5,
			CanaryFailures:             1,
			CanaryPeriods:              10,
			BacklogDrainMinutes:        30,
			BrokerCPUPercent:           80,
			BrokerMemoryPercent:        85,
			BrokerDiskPercent:          80,
		}},
	}
}

// MinAZs is the fewest AZs a profile accepts (DESIGN.md's stack table).
func MinAZs(profile string) int {
	if profile == "prod" {
		return 3
	}
	return 2
}

// DefaultEdge is hookline:edge's defaults: what a stack file does not set.
// The rate limit fits every Cloudflare plan (10 s period and timeout); the
// threshold is per client IP, generous because a provider sends from few IPs.
func DefaultEdge(profile string) Edge {
	e := Edge{
		Plan:          "free",
		ThrottleBurst: 100,
		ThrottleRate:  50,
		RateLimit:     RateLimit{PeriodSeconds: 10, RequestsPerPeriod: 300, MitigationTimeoutSeconds: 10},
	}
	if profile == "prod" {
		e.Plan = "pro"
		e.ThrottleBurst, e.ThrottleRate = 2000, 1000
		e.RateLimit.RequestsPerPeriod = 1500
	}
	return e
}
