package loadgen

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// CheckLoopback returns an error unless rawURL is an http(s) URL whose host is
// a loopback address (127.0.0.0/8, ::1) or the name localhost. The driver
// refuses every other target: it is meant to load only our own servers on
// this machine.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("loadgen: target %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("loadgen: target %q: scheme must be http or https", rawURL)
	}
	if u.User != nil {
		return fmt.Errorf("loadgen: target %q: credentials in the URL are not accepted (use -basic)", rawURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("loadgen: target %q has no host", rawURL)
	}
	if !IsLoopbackHost(host) {
		return fmt.Errorf("loadgen: target host %q is not loopback (127.0.0.0/8, ::1, localhost): refused", host)
	}
	return nil
}

// IsLoopbackHost reports whether host (without port or brackets) is
// localhost or a literal loopback IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	if i := strings.IndexByte(host, '%'); i >= 0 {
		return false // zoned addresses are link-local at best
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if v4 := ip.To4(); v4 != nil {
		return v4[0] == 127
	}
	return ip.Equal(net.IPv6loopback)
}

// loopbackOnly is a net.Dialer Control function that refuses, at connect
// time, any remote address that is not loopback. It guards against a name
// (localhost) resolving somewhere unexpected.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("loadgen: dial %q: %w", address, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !IsLoopbackHost(ip.String()) {
		return fmt.Errorf("loadgen: dial %q: not a loopback address: refused", address)
	}
	return nil
}

// dialLoopback dials like net.Dialer but only to loopback addresses.
func dialLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: loopbackOnly}
	return d.DialContext(ctx, network, addr)
}
