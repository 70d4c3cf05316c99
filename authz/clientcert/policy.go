package clientcert

import (
	"fmt"
	"slices"
	"strings"
)

// Case is one of the four situations --client-cert-policy decides.
type Case string

const (
	// NoCertificate: the request presents no client certificate.
	NoCertificate Case = "no_certificate"
	// UnknownCertificate: it presents one that neither chains to
	// --client-ca nor is on the allow-list.
	UnknownCertificate Case = "unknown_certificate"
	// NoJWT: a trusted certificate and no bearer token.
	NoJWT Case = "no_jwt"
	// BadJWT: a trusted certificate and an ID token that fails
	// verification.
	BadJWT Case = "bad_jwt"
)

// Cases lists the four cases in the contract's order.
var Cases = [...]Case{NoCertificate, UnknownCertificate, NoJWT, BadJWT}

// Action is what the policy does in a case.
type Action string

const (
	// Reject answers 401 with WWW-Authenticate.
	Reject Action = "reject"
	// Limit serves the request as the built-in anonymous account.
	Limit Action = "limit"
	// Allow makes no difference: the other kinds of authentication decide.
	Allow Action = "allow"
)

// Policy is the action for each case.
type Policy map[Case]Action

// For returns the action for c (Allow when unset).
func (p Policy) For(c Case) Action {
	if a, ok := p[c]; ok {
		return a
	}
	return Allow
}

// Uniform is the policy with action a in every case.
func Uniform(a Action) Policy {
	p := Policy{}
	for _, c := range Cases {
		p[c] = a
	}
	return p
}

// ParsePolicy reads --client-cert-policy: one action for all four cases
// ("limit"), or per case ("no_certificate=limit,unknown_certificate=reject");
// cases not named are allow. Unknown cases, actions or repeated cases are
// errors.
func ParsePolicy(s string) (Policy, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Uniform(Allow), nil
	}
	if !strings.Contains(s, "=") {
		a, err := parseAction(s)
		if err != nil {
			return nil, err
		}
		return Uniform(a), nil
	}
	p := Uniform(Allow)
	seen := map[Case]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		c := Case(strings.TrimSpace(k))
		if !ok || !slices.Contains(Cases[:], c) {
			return nil, fmt.Errorf("client-cert-policy: %q is not case=action (cases: no_certificate, unknown_certificate, no_jwt, bad_jwt)", part)
		}
		if seen[c] {
			return nil, fmt.Errorf("client-cert-policy: %s given twice", c)
		}
		seen[c] = true
		a, err := parseAction(strings.TrimSpace(v))
		if err != nil {
			return nil, err
		}
		p[c] = a
	}
	return p, nil
}

func parseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Reject, Limit, Allow:
		return a, nil
	}
	return "", fmt.Errorf("client-cert-policy: %q is not reject, limit or allow", s)
}

// String is the canonical per-case form, which ParsePolicy reads back.
func (p Policy) String() string {
	parts := make([]string, 0, len(Cases))
	for _, c := range Cases {
		parts = append(parts, string(c)+"="+string(p.For(c)))
	}
	return strings.Join(parts, ",")
}

// Rejects reports whether any case is reject.
func (p Policy) Rejects() bool {
	for _, c := range Cases {
		if p.For(c) == Reject {
			return true
		}
	}
	return false
}

// Limits reports whether any case is limit.
func (p Policy) Limits() bool {
	for _, c := range Cases {
		if p.For(c) == Limit {
			return true
		}
	}
	return false
}
