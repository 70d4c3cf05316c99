// Package smart implements the scope grammar and launch-context checks of the
// SMART App Launch framework (HL7 FHIR IG "SMART App Launch", versions 1.0.0
// and 2.2.0). It is a leaf package: it imports only the standard library, so
// that authz (token issuance, refresh, client ceilings), web (consent page)
// and fhir (enforcement) can all share one definition of what a scope means.
//
// # Scope grammar
//
// Clinical ("resource") scopes, IG 2.2 scopes-and-launch-context.html
// #scopes-for-requesting-fhir-resources and #clinical-scope-syntax:
//
//	scope      = context "/" type "." perms [ "?" query ]
//	context    = "patient" / "user" / "system"
//	type       = FHIR resource type ([A-Z][A-Za-z]{1,63}) / "*"
//	perms      = v1-perms / v2-perms
//	v1-perms   = "read" / "write" / "*"              ; SMART 1.0.0 (permission-v1)
//	v2-perms   = a non-empty, in-order subset of "cruds"
//	query      = param "=" value *( "&" param "=" value )   ; v2 only
//
// Examples:
//
//	patient/Observation.read                 v1: read and search (≡ .rs)
//	user/*.*                                 v1: everything (≡ .cruds)
//	user/Appointment.write                   v1: create, update, delete (≡ .cud)
//	patient/*.rs                             v2: read and search every type
//	system/Patient.s                         v2: search only
//	patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory
//	                                         v2 granular: laboratory results only
//
// The v2 letters are c=create, r=read (read, vread, instance history),
// u=update (update, patch), d=delete, s=search (search, type history). The v1
// suffixes map to them as the 2.x IG says: read ⇒ rs, write ⇒ cud, * ⇒ cruds.
// A suffix that is neither a v1 word nor an in-order "cruds" subset (".dus",
// ".sr", ".x", ".") is rejected: the IG allows ignoring, replacing or
// rejecting such requests, and rejecting is the only choice that cannot be
// misread (the IG's example: reading ".read" as ".rd").
//
// A scope remembers whether it was written in v1 or v2 form, and String gives
// back exactly the text that was parsed (byte for byte, including a
// percent-encoded or very long query). That is how a granted v1 scope is
// echoed in v1 form (IG: "return v1 scopes when v1 scopes are requested and
// granted") and how long granular scopes survive storage and echo unchanged.
//
// The query of a granular scope uses FHIR search syntax. It is kept raw and
// also offered as ordered name/value pairs (Scope.Params), with values
// percent-decoded; '+' is a literal plus, not a space. Several granular
// scopes for the same type are a union (IG #scope-equivalence): a resource
// may be accessed when any scope that allows the interaction admits it.
//
// Non-resource scopes (IG #scopes-for-requesting-context-data,
// #scopes-for-requesting-identity-data, #scopes-for-requesting-a-refresh-token):
// launch, launch/patient, launch/encounter, openid, fhirUser, profile (SMART
// 1.0 and OIDC), offline_access and online_access each have their own Kind.
// Any other scope that is a valid OAuth scope token (RFC 6749 §3.3: printable
// ASCII except space, '"' and '\') parses as KindOther — for example email,
// launch/imagingstudy or an extension scope such as __profilePhoto.manage —
// so that callers decide what to do with it. A scope beginning with
// "patient/", "user/" or "system/" must be a valid resource scope.
//
// # Granting
//
// Subset, Scopes.Contains, Narrow and ScopeStrategy decide what a scope grants
// relative to others. Their rules are deliberately conservative:
//   - contexts never cross: patient/, user/ and system/ scopes are unrelated;
//   - "*" covers every resource type, a named type covers only itself;
//   - a scope with a query is narrower than the same scope without one, and
//     two queries are compared only for equality (same name/value pairs in
//     any order), never for logical implication;
//   - non-resource scopes are granted only by themselves.
//
// # Launch context
//
// The launch-context values that go into token responses are declared in
// package authz (authz.LaunchContext). This package checks the 2.2 fhirContext
// items (ValidFHIRContext, IG #fhircontext) and FHIR ids (IsFHIRID).
package smart
