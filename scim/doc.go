// Package scim is reserved for smartgate's SCIM 2.0 server (RFC 7643/7644)
// over the local accounts.
//
// Nothing is built here yet: the package holds no code and /scim/v2/ is
// not served. Local accounts are already SCIM-shaped (account.User:
// userName, name, displayName, emails, active, meta, plus the FHIRUser and
// Roles that the extension schema will carry); today they are created with
// `smartgate user add`, the first start's administrator and the demo.
//
// Planned (the interface document, interface.md): Users and Groups with the
// extension urn:ietf:params:scim:schemas:extension:smartgate:2.0:User
// (fhirUser, roles), ServiceProviderConfig, ResourceTypes and Schemas, a
// filter parser with a fuzz target, RFC 7644 error bodies, and a Store
// interface declared here that store/sqlite implements.
package scim
