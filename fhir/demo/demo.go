// Package demo carries three small synthetic Synthea patients (FHIR R4
// transaction Bundles) for demonstrations; see LICENSE-NOTE.md.
package demo

import "embed"

// Bundles holds the demo bundles as *.json files at its root.
//
//go:embed *.json
var Bundles embed.FS
