// Package web serves smartgate's server-rendered pages: log-in (local,
// federated through an idp.CallbackConnector, or an administrator's sign-in
// code), second factor, patient and encounter pickers, consent, log-out,
// the list of allowed apps, the person's linked accounts and log-in
// security, and implements
// authz.Interaction on top of them.
//
// Flow: an authorization request's interaction is one state machine
// (flow.go, diagram there and in docs/login-flow.md): one record per
// request, a pure next(record, event), and handlers that load the record,
// apply their event, store it and redirect per state.
//
// State: the browser holds one cookie (gorilla/sessions, authenticated and
// encrypted with keys kept in the settings table, rotatable with
// RotateSessionKeys) carrying a random browser id, the id of a server-side
// log-in session (account.Session) and a CSRF token. The session ends
// Config.SessionTTL after the log-in or Config.SessionIdle after its last
// use, whichever comes first (account.SessionPolicy, enforced on the
// server); logging out ends it and the online_access grants tied to it
// (Config.SessionGrants).
// Pending authorization requests are stored server-side, bound to the
// browser id; the decision made on the consent page is bound to the log-in
// session and returned to authz once. A session whose account has a second
// factor (or must have one) is a log-in only once its amr records "otp".
//
// Protection: every state-changing form passes http.CrossOriginProtection and
// a per-browser token in a hidden csrf_token field; pages are sent with a
// strict Content-Security-Policy (no scripts, frame-ancestors 'none'),
// X-Frame-Options DENY, Cache-Control no-store and Referrer-Policy
// no-referrer; templates are html/template, rendered into a buffer; redirects
// after a POST are 303; return_to accepts only same-origin paths.
package web
