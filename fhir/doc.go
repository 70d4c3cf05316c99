// Package fhir is smartgate's embedded FHIR R4 REST endpoint (JSON only):
// read, vread, create, update (If-Match, create-on-update), conditional
// create, delete, instance/type history, search (GET and POST _search),
// batch and transaction Bundles, and the CapabilityStatement at /metadata.
//
// Every interaction asks an access decision through the Authenticator /
// Principal seam (principal.go) with the interaction, the resource type and
// id, and the Patient compartments of the resource content; searches and
// type histories are restricted by the Principal's Restriction. SMART
// scope enforcement plugs in there. Storage is the Store interface
// (store.go); search semantics live in package fhir/search. Import loads
// Bundles and NDJSON files.
package fhir
