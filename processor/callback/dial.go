package callback

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefusedAddress is returned when a callback would connect to an address
// that is not public: loopback, private (RFC 1918, ULA), link-local (the
// ECS task metadata endpoint 169.254.170.2 and the instance metadata service
// 169.254.169.254 among them), unspecified, multicast, or otherwise reserved.
var ErrRefusedAddress = errors.New("callback: refused to connect to a non-public address")

// ErrRedirect is the error of a callback answered with a redirect: the
// client never follows one (the new location could be an internal address,
// or a URL the sender was never configured with).
var ErrRedirect = errors.New("callback: redirect refused")

// notPublic are the ranges a callback may not reach besides what netip
// classifies (loopback, link-local, multicast, unspecified, RFC 1918, ULA).
var notPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (a VPC may use it)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckAddress returns ErrRefusedAddress (wrapped, naming the address) when
// ip is not a public unicast address.
func CheckAddress(ip netip.Addr) error {
	ip = ip.WithZone("").Unmap()
	if nat64.Contains(ip) { // well-known NAT64: judge the IPv4 address inside
		b := ip.As16()
		return CheckAddress(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	refused := !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate()
	for _, p := range notPublic {
		refused = refused || p.Contains(ip)
	}
	if refused {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, ip)
	}
	return nil
}

// control runs after the address is resolved and before the socket
// connects, for every address tried: a name that resolves (or re-resolves,
// DNS rebinding) to a refused address is caught here.
func control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrRefusedAddress, address)
	}
	return CheckAddress(ap.Addr())
}

// newClient is the callback HTTP client: no redirects, no proxy from the
// environment (the check must judge the real destination), and unless
// allowPrivate, no connection to a non-public address.
func newClient(allowPrivate bool, perHost int) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = control
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   perHost,
		MaxConnsPerHost:       perHost,
		IdleConnTimeout:       90 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // answered as the 3xx it is
		},
	}
}

// isRefused reports whether err is a dial-time refusal.
func isRefused(err error) bool { return errors.Is(err, ErrRefusedAddress) }
