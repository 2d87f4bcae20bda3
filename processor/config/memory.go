package config

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The cgroup files that hold the container's memory limit: v2 (ECS on
// Fargate platform 1.4 and current EC2 AMIs), then v1.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// MemoryLimit is the container's memory limit in bytes, or 0 when there is
// none (no cgroup limit, or "max").
func MemoryLimit() int64 {
	for _, f := range cgroupLimitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 || n >= 1<<50 { // "max", or v1's "unlimited" (a huge number)
			return 0
		}
		return n
	}
	return 0
}

// DefaultBodyBudget is BODY_BUDGET when it is not set: a quarter of the
// container's memory (a body is held up to three times over while its batch
// is written: the delivery, the escaped SQL, the driver's packet), or
// 256 MiB without a limit.
func DefaultBodyBudget(limit int64) int64 {
	if limit <= 0 {
		return 256 << 20
	}
	return max(limit/4, 16<<20)
}

// parseBytes reads 1048576, 512KiB, 64MiB or 1GiB (KB, MB, GB are read as
// the binary units too).
func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > (1<<50)/mult {
		return 0, fmt.Errorf("%q is not a size like 268435456, 512KiB or 64MiB", v)
	}
	return n * mult, nil
}
