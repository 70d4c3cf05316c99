// Package scim is smartgate's SCIM 2.0 server (RFC 7643/7644) at
// /scim/v2 over the local accounts: Users (core User, the enterprise
// extension and urn:ietf:params:scim:schemas:extension:smartgate:2.0:User
// with fhirUser, roles and the read-only federated identities), Groups (members, and the smartgate Group
// extension with roles and a scope ceiling), ServiceProviderConfig,
// ResourceTypes, Schemas, and POST .search at the root and under each
// resource type.
//
// The parts: scim/schema is the one attribute table (and renders the
// Schemas and ResourceTypes documents), scim/filter parses filters and
// paths, scim/patch applies PATCH operations, scim/scimauth decides who a
// request is. This package is the HTTP layer: it reads through Store
// (account.Directory) and changes people and groups only through People
// (account.People: validation, the password policy and argon2id, the last
// administrator, revocation on deactivation and deletion).
//
// # Decisions where the RFCs leave room
//
//   - Authentication: every request is authorized (Authorizer) before its
//     path, query or body is read, except GET of ServiceProviderConfig,
//     ResourceTypes and Schemas, which are public (RFC 7644 §4 allows it:
//     they describe the server, not its people). Unknown paths are
//     authorized first too, so they reveal nothing without a token.
//   - Every authorized caller may read and provision, but only an
//     administrator's own token (CallerAdmin) may give or take the admin
//     role, on a person or through a group (its roles, or the members of
//     a group that gives it), and only it may change an administrator
//     (directly or through a group: account.People.IsAdmin) at all — PUT,
//     PATCH of any attribute (password, userName, active…), DELETE — or
//     change or delete a group that gives the role: 403 otherwise. A
//     provisioning credential neither mints nor takes over, deprovisions
//     or demotes administrators.
//   - A password set by PUT or PATCH is set by someone else: the person's
//     tokens are revoked, unless it is the stored password again (a sync
//     that re-sends it).
//   - emails, phoneNumbers, addresses and the smartgate roles hold at
//     most account.MaxValues (100) entries each (400 invalidValue); group
//     members are not capped, and a list of groups reads them only when
//     the answer shows them.
//   - A Patient fhirUser links one User only (another is 409 uniqueness):
//     the second would read the first's chart. Practitioner and other
//     references may be shared.
//   - Errors are RFC 7644 §3.12 bodies everywhere, 404 and 405 (with
//     Allow) included. Malformed JSON, a body that is not one object, a
//     missing or unknown schema URN in schemas: 400 invalidSyntax. An
//     attribute the schema does not have, or a value of the wrong type:
//     400 invalidValue. The core User attributes smartgate does not keep
//     (ims, photos, entitlements, roles, x509Certificates) are accepted
//     in POST and PUT bodies and dropped, never returned, because
//     provisioning clients send them by default (Entra ID sends
//     "roles":[]); they are not in the schema, so a PATCH path naming
//     them is 400 invalidPath.
//   - addresses (RFC 7643 §4.1.2) are kept, returned, replaced by PUT and
//     changed by PATCH (Entra ID's `addresses[type eq "work"].locality`),
//     but not filterable or sortable (400 invalidFilter). An address with
//     no component (only a type or primary, as a PATCH that removes its
//     last component leaves it) is no address and is not kept.
//   - The last active administrator (ErrLastAdmin) is 409 without a
//     scimType: the request conflicts with the current state.
//   - A duplicate userName or group displayName is 409 uniqueness; a
//     member that is not a User is 400 invalidValue; a store that cannot
//     take the request is 503 with Retry-After.
//   - PUT (RFC 7644 §3.5.1): readOnly attributes in the body are ignored;
//     an omitted password or active keeps the stored one (a PUT that
//     forgets active must not lock a person out); an omitted smartgate
//     extension keeps fhirUser and roles, and a Group's roles and ceiling
//     (provisioning clients do not know it). Everything else omitted is
//     cleared.
//   - PATCH answers 200 with the resource, except a Group PATCH that only
//     adds and removes members, which changes them without loading the
//     group and answers 204 with the new ETag, or 200 with the resource
//     when the request has attributes (§3.5.2 requires it then). A PATCH
//     that changes nothing stores nothing and keeps the version.
//   - Booleans in bodies accept "true"/"false" strings in any case
//     (Entra ID sends "active":"False").
//   - Lists: startIndex below 1 is 1, count below 0 is 0, count above
//     Config.MaxResults (default 200, ServiceProviderConfig
//     filter.maxResults) is capped, not refused; no count is MaxResults.
//     A root .search lists Users then Groups as one list; a filter naming
//     an attribute one of them lacks selects only from the other.
//   - ETags are weak, W/"<meta.version>", on every single-resource answer;
//     If-Match on PUT, PATCH and DELETE (412 when stale), If-None-Match on
//     GET (304). /Me answers 501.
//   - Bodies are limited to Config.MaxBodyBytes (default 1 MiB; 413).
//     Requests must be application/scim+json or application/json (or
//     carry no Content-Type); answers are application/scim+json.
//   - The smartgate User extension's identities (the federated
//     identities linked to the account: provider, issuer, subject,
//     email, created, lastLogin) are readOnly, shown when Config.Links is
//     set (one LinksOfUsers read per list page, none when the projection
//     leaves them out). POST and PUT ignore them whatever they hold; a
//     PATCH naming them is 400 mutability; links are made by logging in
//     and removed on the users page. They cannot be filtered on (400
//     invalidFilter "… cannot be filtered on"): the store's filters do not
//     reach the links, and a person's issuer is not a provisioning key.
//   - Every change, and every refused request, is audited (kind scim:
//     caller, action, resource, outcome); never a password or token.
package scim
