// Package upstream is a fhir.Store over another FHIR R4 server's REST API:
// smartgate's proxy mode (serve --fhir-upstream) and its gateway. The FHIR
// endpoint (package fhir) runs over it exactly as over the embedded store,
// so every access decision (scopes, patient compartments, granular scopes,
// chains, includes, history, conditional interactions, Bundles) is the one
// fhir/access makes, not a second copy; this package only keeps the store's
// contract with a server it does not control:
//
//   - Searches carry the caller's confinement to the upstream (the patient
//     compartment as a search parameter, a single query-restricted scope's
//     parameters) and every entry that comes back is checked again here
//     (its compartments, the granular scopes, the chained parameters
//     against the caller's reach, each include by the endpoint's read
//     decision): what the upstream slips into a result is dropped and the
//     total left out. A type outside every compartment asked for by a
//     compartment-confined caller is answered empty without asking.
//   - Paging cursors are the upstream's next links, sealed with a MAC that
//     also binds the caller's confinement: a forged or borrowed cursor is
//     refused.
//   - Writes are collected in a transaction and sent when it commits, as
//     one request or one upstream transaction Bundle, each with If-Match on
//     the version the decision was made on: a resource changed upstream
//     between the check and the write is a conflict (409), never a write
//     over content that was not checked. Writes through one Store are
//     serialised, so that a conditional create's search and its create are
//     one step for the clients of this proxy.
//   - The upstream's failures are the client's 502 (unreachable, 5xx,
//     garbage, a resource other than the one asked for, a response larger
//     than MaxResponseBytes), 504 (Timeout) or its own 4xx refusals; its
//     address and transport errors go to the log only. No header of the
//     client's request is forwarded: each upstream request is built here,
//     with the credentials of Config.Client and Config.Authorize.
//
// Versions must be numeric (meta.versionId), as the embedded store's are;
// an upstream without versions is served with version 1 and no If-Match.
package upstream
