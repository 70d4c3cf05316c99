// Package fhir is smartgate's embedded FHIR R4 REST endpoint, which enforces the SMART scopes and patient compartment of the token it is shown.
package fhir
