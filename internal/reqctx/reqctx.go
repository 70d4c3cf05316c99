// Package reqctx carries what the outermost middleware (server.Wrap) learns
// about a request and what every package needs from it: the request's
// sanitised id and the client's address. It imports nothing of smartgate,
// so that any package can use it.
//
// The client address is the direct peer's (http.Request.RemoteAddr), unless
// that peer is a configured trusted proxy: then it is the address that proxy
// forwarded (X-Forwarded-For, or RFC 7239 Forwarded when there is no
// X-Forwarded-For), read from the right and skipping further trusted
// proxies, so that a client cannot choose its address by sending the header
// itself.
package reqctx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type ctxKey struct{}

type info struct {
	id     string
	client string
}

// With returns a copy of ctx carrying the request id and client address.
func With(ctx context.Context, id, client string) context.Context {
	return context.WithValue(ctx, ctxKey{}, info{id: id, client: client})
}

// ID returns the request's sanitised id, or "" when the request did not
// pass through the middleware.
func ID(ctx context.Context) string {
	in, _ := ctx.Value(ctxKey{}).(info)
	return in.id
}

// ClientAddress returns the client address of r: the one the middleware
// resolved, or, for a request that did not pass through it (a handler under
// test), the direct peer's.
func ClientAddress(r *http.Request) string {
	if in, ok := r.Context().Value(ctxKey{}).(info); ok && in.client != "" {
		return in.client
	}
	return PeerAddress(r)
}

// PeerAddress is the host part of r.RemoteAddr (an IPv4-mapped IPv6 address
// as IPv4), or RemoteAddr itself when it is not host:port.
func PeerAddress(r *http.Request) string {
	if a, ok := parseHost(r.RemoteAddr); ok {
		return a.String()
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// Prefixes is a set of addresses and networks (trusted proxies, readers of
// /metrics). The zero value is empty.
type Prefixes []netip.Prefix

// ParsePrefixes parses a comma-separated list of IP addresses and CIDR
// networks ("127.0.0.1, 10.0.0.0/8, ::1"); blanks are ignored.
func ParsePrefixes(list string) (Prefixes, error) {
	var out Prefixes
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, err
		}
		a = a.Unmap().WithZone("")
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Contains reports whether addr (an address as ClientAddress returns it) is
// in the set.
func (ps Prefixes) Contains(addr string) bool {
	a, ok := parseHost(addr)
	return ok && ps.has(a)
}

func (ps Prefixes) has(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client resolves r's client address with ps as the trusted proxies.
func (ps Prefixes) Client(r *http.Request) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return PeerAddress(r)
	}
	if !ps.has(peer) {
		return peer.String()
	}
	hops := forwardedHops(r.Header)
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHost(hops[i])
		if !ok {
			break // garbage (or "unknown") from further left: the last hop we trust is what we know
		}
		client = a
		if !ps.has(a) {
			break
		}
	}
	return client.String()
}

// forwardedHops lists the forwarded addresses, the client's first: from
// X-Forwarded-For when present (every line, in order), else from the for=
// parameters of Forwarded (RFC 7239 §4, §5.2).
func forwardedHops(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, line := range xff {
			for _, s := range strings.Split(line, ",") {
				hops = append(hops, strings.TrimSpace(s))
			}
		}
		return hops
	}
	for _, line := range h.Values("Forwarded") {
		for _, elem := range strings.Split(line, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					hops = append(hops, strings.Trim(strings.TrimSpace(v), `"`))
				}
			}
		}
	}
	return hops
}

// parseHost parses "addr", "addr:port", "[v6]" or "[v6]:port" into an
// address without zone, IPv4-mapped IPv6 as IPv4.
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil {
			return a.Unmap().WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
