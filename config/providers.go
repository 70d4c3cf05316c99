package config

// The providers: section (interface.md): decoding one entry at a time (an
// entry's unknown key does not hide the other entries' problems), the
// checks of every entry, and the one reading of a provider's client
// secret (validation at start and the wiring both use ReadSecret).

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/smartgate/smartgate/idp"
)

// The provider types and presets.
var (
	providerTypes   = []string{"oidc", "oauth2"}
	providerPresets = []string{"google", "facebook", "hl7", "none"}
)

// ClaimKeys are the keys a provider's claims: mapping may name
// (smartgate's names, mapped to the provider's claim names); an oauth2
// provider without a preset may also map subject (its userinfo's id).
var ClaimKeys = []string{"email", "email_verified", "name", "given_name", "family_name", "preferred_username", "domain"}

var (
	providerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// domainName is a DNS name of at least two labels, lower case.
	domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	// scopeToken is an OAuth scope token (RFC 6749 §3.3).
	scopeToken = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
)

// maxDisplayName bounds a provider's button label.
const maxDisplayName = 64

// PresetOrNone is p's preset, "none" when unset.
func (p Provider) PresetOrNone() string {
	if p.Preset == "" {
		return "none"
	}
	return p.Preset
}

// decodeProviders decodes the providers: list entry by entry, reporting
// each entry's unknown keys and bad values; the entries that decode are
// returned (and checked by validateProviders).
func decodeProviders(node *yaml.Node, origin string, problems *Error) []Provider {
	if node.Kind != yaml.SequenceNode {
		problems.add("%s: must be a list of providers", origin)
		return nil
	}
	var out []Provider
	for i, item := range node.Content {
		var pr Provider
		if err := decodeStrict(item, &pr); err != nil {
			problems.add("%s: providers[%d] (line %d): %v", origin, i, item.Line, err)
			continue
		}
		pr.pos = i + 1
		out = append(out, pr)
	}
	return out
}

// LinkIssuer is the issuer p's linked identities carry: the preset's
// fixed one for google and facebook, else the configured issuer.
func (p Provider) LinkIssuer() string {
	switch p.Preset {
	case "google":
		return idp.GoogleIssuer
	case "facebook":
		return idp.FacebookIssuer
	}
	return p.Issuer
}

// validateProviders checks every provider and adds each problem to p.
// Two providers of one issuer (a trailing slash aside) are refused: an
// identity is (issuer, subject), so they would share identities and
// links, each with its own trusted_email and provisioning.
func (c *Config) validateProviders(p *Error, getenv func(string) string) {
	seen := map[string]bool{}
	issuers := map[string]string{} // issuer, without a trailing slash -> where
	for i, pr := range c.Providers {
		if pr.pos > 0 {
			i = pr.pos - 1 // decoded from the file: its place there
		}
		where := fmt.Sprintf("providers[%d]", i)
		if pr.ID != "" {
			where = fmt.Sprintf("providers[%d] (%s)", i, pr.ID)
		}
		switch {
		case !providerID.MatchString(pr.ID):
			p.add("%s: id %q must be 1-32 lower-case letters, digits, - or _, starting with a letter or digit", where, pr.ID)
		case idp.Reserved(pr.ID):
			p.add("%s: id %q is reserved (/login/%s is another page)", where, pr.ID, pr.ID)
		case seen[pr.ID]:
			p.add("%s: id %q is used twice", where, pr.ID)
		}
		seen[pr.ID] = true
		if iss := strings.TrimRight(pr.LinkIssuer(), "/"); iss != "" {
			if first, ok := issuers[iss]; ok {
				p.add("%s: issuer %q is also %s's: two providers of one issuer would share its identities", where, pr.LinkIssuer(), first)
			} else {
				issuers[iss] = where
			}
		}
		for _, problem := range pr.problems(getenv) {
			p.add("%s: %s", where, problem)
		}
	}
}

// problems are the problems of one provider's settings, ids aside.
func (pr Provider) problems(getenv func(string) string) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	out = append(out, pr.typeProblems()...)
	if pr.ClientID == "" {
		add("client_id is required")
	}
	switch {
	case pr.ClientSecretEnv == "" && pr.ClientSecretFile == "":
		add("client_secret_env or client_secret_file is required (secrets are never written in the file)")
	case pr.ClientSecretEnv != "" && pr.ClientSecretFile != "":
		add("client_secret_env and client_secret_file are both set: set one")
	default:
		if _, err := pr.ReadSecret(getenv); err != nil {
			add("%v", err)
		}
	}
	if pr.Provisioning != "" && pr.Provisioning != string(idp.ProvisionAuto) && pr.Provisioning != string(idp.ProvisionInvite) {
		add("provisioning %q must be auto or invite", pr.Provisioning)
	}
	if len(pr.DisplayName) > maxDisplayName || strings.IndexFunc(pr.DisplayName, unicode.IsControl) >= 0 {
		add("display_name must be at most %d characters, without control characters", maxDisplayName)
	}
	for _, s := range pr.Scopes {
		if !scopeToken.MatchString(s) {
			add("scope %q is not a single scope token", s)
		}
	}
	for _, d := range pr.AllowedDomains {
		if !domainName.MatchString(d) || len(d) > 253 {
			add("allowed_domains: %q is not a domain name (lower case, e.g. example.org)", d)
		}
	}
	if len(pr.AllowedDomains) > 0 && pr.Preset == "facebook" {
		add("allowed_domains cannot be used with the facebook preset: Facebook's email is unverified, so no domain can be checked")
	}
	keys := make([]string, 0, len(pr.Claims))
	for k := range pr.Claims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) > 0 && pr.Preset == "facebook" {
		add("claims cannot be used with the facebook preset: its Graph API fields are fixed")
	}
	for _, k := range keys {
		if k == "subject" {
			if pr.Type != "oauth2" || pr.PresetOrNone() != "none" {
				add("claims: subject may be mapped only for an oauth2 provider without a preset (an OpenID provider's subject is the id_token's sub)")
			} else if pr.Claims[k] == "" {
				add("claims: subject names no claim")
			}
			continue
		}
		if !slices.Contains(ClaimKeys, k) {
			add("claims: key %q must be one of %s", k, strings.Join(ClaimKeys, ", "))
		} else if pr.Claims[k] == "" {
			add("claims: %s names no claim", k)
		}
	}
	return out
}

// typeProblems checks type, preset, issuer and endpoints together.
func (pr Provider) typeProblems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if !slices.Contains(providerTypes, pr.Type) {
		add("type %q must be oidc or oauth2", pr.Type)
	}
	preset := pr.PresetOrNone()
	if !slices.Contains(providerPresets, preset) {
		add("preset %q must be google, facebook, hl7 or none", pr.Preset)
		return out
	}
	switch {
	case preset == "facebook" && pr.Type == "oidc":
		add("preset facebook needs type oauth2 (Facebook log-in is not OpenID Connect)")
	case (preset == "google" || preset == "hl7") && pr.Type == "oauth2":
		add("preset %s needs type oidc", preset)
	}
	endpoints := map[string]string{"issuer": pr.Issuer, "auth_url": pr.AuthURL, "token_url": pr.TokenURL, "userinfo_url": pr.UserInfoURL}
	for _, k := range []string{"issuer", "auth_url", "token_url", "userinfo_url"} {
		if v := endpoints[k]; v != "" && !idp.SecureURL(v) {
			add("%s %q must be an https URL (http only on a loopback host)", k, v)
		}
	}
	switch preset {
	case "google":
		if pr.Issuer != "" && pr.Issuer != idp.GoogleIssuer {
			add("issuer %q: the google preset's issuer is %s (leave issuer out or set that)", pr.Issuer, idp.GoogleIssuer)
		}
	case "facebook":
		if pr.Issuer != "" && pr.Issuer != idp.FacebookIssuer {
			add("issuer %q: the facebook preset's issuer is %s (leave issuer out or set that)", pr.Issuer, idp.FacebookIssuer)
		}
	case "hl7":
		if pr.Issuer == "" {
			add("issuer is required: the hl7 preset is off until HL7.org's issuer is configured (its OpenID issuer URL)")
		}
	default:
		switch pr.Issuer {
		case "":
			add("issuer is required for a provider without a preset (it is the issuer linked identities carry)")
		case idp.GoogleIssuer, idp.FacebookIssuer:
			add("issuer %q is a preset's: use preset google or facebook", pr.Issuer)
		}
	}
	if pr.Type == "oidc" && (pr.AuthURL != "" || pr.TokenURL != "" || pr.UserInfoURL != "") {
		add("auth_url, token_url and userinfo_url are for oauth2 providers; an oidc provider's endpoints come from discovery at its issuer")
	}
	if pr.Type == "oauth2" && preset == "none" && (pr.AuthURL == "" || pr.TokenURL == "" || pr.UserInfoURL == "") {
		add("an oauth2 provider without a preset needs auth_url, token_url and userinfo_url")
	}
	return out
}

// errNoSecret is the problem of a secret variable or file that is empty.
var errNoSecret = errors.New("is empty")

// ReadSecret returns the provider's client secret: the environment
// variable ClientSecretEnv (through getenv) or the file ClientSecretFile
// (surrounding white space removed). A missing, unreadable or empty
// secret is an error that names where it was looked for, never the value.
func (pr Provider) ReadSecret(getenv func(string) string) (string, error) {
	if pr.ClientSecretEnv != "" {
		v := strings.TrimSpace(getenv(pr.ClientSecretEnv))
		if v == "" {
			return "", fmt.Errorf("client_secret_env: the environment variable %s is not set or empty", pr.ClientSecretEnv)
		}
		return v, nil
	}
	if pr.ClientSecretFile == "" {
		return "", errors.New("no client_secret_env or client_secret_file")
	}
	b, err := os.ReadFile(pr.ClientSecretFile)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("client_secret_file %s: %w", pr.ClientSecretFile, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("client_secret_file %s: %w", pr.ClientSecretFile, errNoSecret)
	}
	return v, nil
}
