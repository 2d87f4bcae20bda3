package config

import (
	"fmt"
	"math/big"
	"net/netip"
	"sort"
)

// Tier is a subnet tier of DESIGN.md.
type Tier string

const (
	TierPublic   Tier = "public"   // NAT gateways only
	TierCompute  Tier = "compute"  // Lambda ENIs, ECS tasks, RabbitMQ
	TierDatabase Tier = "database" // RDS, Redis; no route to the internet
)

// Tiers in the order the network declares them.
var Tiers = []Tier{TierPublic, TierCompute, TierDatabase}

// Subnet is one subnet of the layout.
type Subnet struct {
	Tier Tier
	AZ   string
	CIDR string
}

// Layout carves the VPC CIDR into one subnet per tier per AZ, largest
// blocks first so that every block is aligned, in a fixed order so that the
// same config always gives the same CIDRs.
func (n Network) Layout() ([]Subnet, error) {
	vpc, err := netip.ParsePrefix(n.CIDR)
	if err != nil || !vpc.Addr().Is4() {
		return nil, fmt.Errorf("%s:network.cidr: %q is not an IPv4 CIDR; accepts a private block such as 10.20.0.0/16 (prefix /16 to /24)", Namespace, n.CIDR)
	}
	type req struct {
		tier   Tier
		az     string
		prefix int
		order  int
	}
	prefixes := map[Tier]int{TierPublic: n.PublicPrefix, TierCompute: n.ComputePrefix, TierDatabase: n.DatabasePrefix}
	var reqs []req
	for ti, t := range Tiers {
		for ai, az := range n.AZs {
			reqs = append(reqs, req{t, az, prefixes[t], ti*100 + ai})
		}
	}
	sort.SliceStable(reqs, func(i, j int) bool {
		if reqs[i].prefix != reqs[j].prefix {
			return reqs[i].prefix < reqs[j].prefix
		}
		return reqs[i].order < reqs[j].order
	})
	base := new(big.Int).SetBytes(vpc.Masked().Addr().AsSlice())
	size := new(big.Int).Lsh(big.NewInt(1), uint(32-vpc.Bits()))
	end := new(big.Int).Add(base, size)
	next := new(big.Int).Set(base)
	out := make(map[int]Subnet, len(reqs))
	for _, r := range reqs {
		block := new(big.Int).Lsh(big.NewInt(1), uint(32-r.prefix))
		// align
		if m := new(big.Int).Mod(next, block); m.Sign() != 0 {
			next.Add(next, new(big.Int).Sub(block, m))
		}
		if new(big.Int).Add(next, block).Cmp(end) > 0 {
			return nil, fmt.Errorf("%s:network: subnets do not fit in %s: %d AZs × (public /%d + compute /%d + database /%d); accepts larger prefixes (smaller subnets) or a larger VPC CIDR",
				Namespace, n.CIDR, len(n.AZs), n.PublicPrefix, n.ComputePrefix, n.DatabasePrefix)
		}
		var b [4]byte
		next.FillBytes(b[:])
		out[r.order] = Subnet{Tier: r.tier, AZ: r.az, CIDR: netip.PrefixFrom(netip.AddrFrom4(b), r.prefix).String()}
		next.Add(next, block)
	}
	subnets := make([]Subnet, 0, len(out))
	for ti := range Tiers {
		for ai := range n.AZs {
			subnets = append(subnets, out[ti*100+ai])
		}
	}
	return subnets, nil
}

// NatCount is how many NAT gateways the stack gets (-1 in config means one per AZ).
func (n Network) NatCount() int {
	if n.NatGateways < 0 {
		return len(n.AZs)
	}
	return n.NatGateways
}
