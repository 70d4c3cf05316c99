// Package idp is reserved for federated log-in: upstream identity
// providers (OpenID Connect and OAuth 2.0 providers such as Google,
// Facebook and HL7.org) that a person can log in with instead of a local
// password.
//
// Nothing is built here yet: the package holds no code, smartgate reads no
// providers setting, and /login/{provider} is not served. Local accounts
// log in with a password (package account, the log-in page of package web,
// and the OWin grant of package authz); web.Config.Providers, the links the
// log-in page would show, is empty.
//
// Planned (the interface document, interface.md, "providers:"): the capability
// interfaces a provider implements (a callback log-in, later a password
// log-in), the Identity every provider returns, a Config → Open registry
// built explicitly in cmd/smartgate, and one sub-package per provider,
// with the callback at {base}/login/{id}/callback.
package idp
