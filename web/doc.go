// Package web serves smartgate's server-rendered pages: log-in, patient
// picker, consent, log-out and the list of allowed apps, and implements
// authz.Interaction on top of them.
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
// session and returned to authz once.
//
// Protection: every state-changing form passes http.CrossOriginProtection and
// a per-browser token in a hidden csrf_token field; pages are sent with a
// strict Content-Security-Policy (no scripts, frame-ancestors 'none'),
// X-Frame-Options DENY, Cache-Control no-store and Referrer-Policy
// no-referrer; templates are html/template, rendered into a buffer; redirects
// after a POST are 303; return_to accepts only same-origin paths.
package web
