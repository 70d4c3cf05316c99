// Package fhirview shows the audit trail (audit.Event records) as FHIR R4
// AuditEvent resources shaped after the IHE Basic Audit Log Patterns
// (BALP): RESTful FHIR access as IHE.BasicAudit.Read, Query, Create,
// Update and Delete (and their Patient* variants when a patient is
// concerned), log-in and log-out as DICOM User Authentication (110114 with
// 110122 Login / 110123 Logout), token requests after IUA's Get Access
// Token (ITI-71), and administrators' and users' security changes as DICOM
// Security Alert (110113). A kind it does not know keeps its name as a
// code of KindSystem. The view is computed from the records when asked; it
// is never stored. View is the /fhir/AuditEvent type (fhir.LocalType),
// readable by administrators only.
package fhirview

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartgate/smartgate/audit"
)

// Code systems and profile base.
const (
	DICOM          = "http://dicom.nema.org/resources/ontology/DCM"
	EventType      = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	Restful        = "http://hl7.org/fhir/restful-interaction"
	IHEEvent       = "urn:ihe:event-type-code"
	EntityType     = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	ObjectRole     = "http://terminology.hl7.org/CodeSystem/object-role"
	SourceType     = "http://terminology.hl7.org/CodeSystem/security-source-type"
	BALPEntityType = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	UserAgentTypes = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
	ProfileBase    = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
	// KindSystem names smartgate's own record kinds (the type of a kind
	// with no standard code) and ActionSystem their actions (its subtype).
	KindSystem   = "urn:smartgate:audit-kind"
	ActionSystem = "urn:smartgate:audit-action"
	// UserSystem and ClientSystem qualify the identifiers of the user and
	// client agents.
	UserSystem   = "urn:smartgate:user"
	ClientSystem = "urn:smartgate:client"
)

// Options are what the mapping needs besides the record.
type Options struct {
	// Base is the FHIR base URL of this server (the server agent's and the
	// observer's identifier, its host the server's network address).
	Base string
}

// coding is one Coding.
func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}

// classified is the type, subtype and action of one record.
type classified struct {
	typ, subtype map[string]any
	action       string // C R U D E
	profile      string // BALP profile, "" for none
}

type interaction struct{ code, action, profile string }

// fhirInteraction maps the fhir kind's actions to their restful-interaction
// code, CRUDE action and BALP profile.
func fhirInteraction(action string) (interaction, bool) {
	switch action {
	case "read", "vread", "history-instance":
		return interaction{action, "R", "Read"}, true
	case "history-type", "history-system", "search-type":
		return interaction{action, "E", "Query"}, true
	case "create":
		return interaction{action, "C", "Create"}, true
	case "update":
		return interaction{action, "U", "Update"}, true
	case "delete":
		return interaction{action, "D", "Delete"}, true
	case "bundle":
		return interaction{"batch", "E", ""}, true
	}
	return interaction{}, false
}

// classify gives a record's type, subtype, action and profile.
func classify(e audit.Event) classified {
	switch e.Kind {
	case "fhir":
		fi, ok := fhirInteraction(e.Action)
		if !ok {
			return classified{coding(EventType, "rest", "Restful Operation"), coding(ActionSystem, orKind(e.Action, e.Kind), ""), "E", ""}
		}
		c := classified{coding(EventType, "rest", "Restful Operation"), coding(Restful, fi.code, ""), fi.action, ""}
		if fi.profile != "" && e.Outcome == audit.Success {
			if patientOf(e) != "" {
				c.profile = ProfileBase + "IHE.BasicAudit.Patient" + fi.profile
			} else {
				c.profile = ProfileBase + "IHE.BasicAudit." + fi.profile
			}
		}
		return c
	case "login", "certauth", "client-certificate":
		return classified{coding(DICOM, "110114", "User Authentication"), coding(DICOM, "110122", "Login"), "E", ""}
	case "logout":
		return classified{coding(DICOM, "110114", "User Authentication"), coding(DICOM, "110123", "Logout"), "E", ""}
	case "token", "refresh", "owin":
		return classified{coding(DICOM, "110114", "User Authentication"), coding(IHEEvent, "ITI-71", "Get Access Token"), "E", ""}
	case "admin", "scim", "password", "second-factor", "link", "user":
		return classified{coding(DICOM, "110113", "Security Alert"), coding(DICOM, "110137", "User Security Attributes Changed"), crud(e.Action), ""}
	case "client", "certificate", "anonymous", "provider":
		return classified{coding(DICOM, "110113", "Security Alert"), coding(DICOM, "110129", "Security Configuration"), crud(e.Action), ""}
	}
	return classified{coding(KindSystem, orKind(e.Kind, "unknown"), ""), coding(ActionSystem, orKind(e.Action, e.Kind), ""), crud(e.Action), ""}
}

// crud guesses the CRUDE action of an administrative action name.
func crud(action string) string {
	a := strings.ToLower(action)
	switch {
	case strings.HasPrefix(a, "add"), strings.HasPrefix(a, "create"), strings.HasPrefix(a, "register"), strings.HasPrefix(a, "enrol"):
		return "C"
	case strings.HasPrefix(a, "delete"), strings.HasPrefix(a, "remove"), strings.HasPrefix(a, "revoke"), strings.HasPrefix(a, "withdraw"):
		return "D"
	case strings.HasPrefix(a, "read"), strings.HasPrefix(a, "check"):
		return "R"
	case a == "":
		return "E"
	}
	return "U"
}

func orKind(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

// OutcomeCode is the AuditEvent.outcome of an audit outcome: 0 success,
// 4 minor failure (refused), 8 serious failure.
func OutcomeCode(outcome string) string {
	switch outcome {
	case audit.Success:
		return "0"
	case audit.Denied:
		return "4"
	}
	return "8"
}

// OutcomeOf is the audit outcome of an AuditEvent.outcome code, or "".
func OutcomeOf(code string) string {
	switch code {
	case "0":
		return audit.Success
	case "4":
		return audit.Denied
	case "8":
		return audit.Failure
	}
	return ""
}

// patientOf is the patient a record concerns: the one in context, or the
// Patient resource accessed.
func patientOf(e audit.Event) string {
	if e.Patient != "" {
		return e.Patient
	}
	if rest, ok := strings.CutPrefix(e.Resource, "Patient/"); ok && e.Kind == "fhir" {
		id, _, _ := strings.Cut(rest, "/")
		return id
	}
	return ""
}

// AuditEvent is the record as an R4 AuditEvent resource.
func AuditEvent(e audit.Event, o Options) map[string]any {
	c := classify(e)
	res := map[string]any{
		"resourceType": "AuditEvent",
		"id":           strconv.FormatInt(e.ID, 10),
		"type":         c.typ,
		"subtype":      []any{c.subtype},
		"action":       c.action,
		"recorded":     e.At.UTC().Format(time.RFC3339Nano),
		"outcome":      OutcomeCode(e.Outcome),
		"agent":        agents(e, o),
		"source":       source(o),
	}
	if c.profile != "" {
		res["meta"] = map[string]any{"profile": []any{c.profile}}
	}
	if desc := outcomeDesc(e); desc != "" {
		res["outcomeDesc"] = desc
	}
	if ents := entities(e); len(ents) > 0 {
		res["entity"] = ents
	}
	return res
}

func outcomeDesc(e audit.Event) string {
	parts := []string{}
	if e.Outcome != "" {
		parts = append(parts, e.Outcome)
	}
	if e.Detail != "" {
		parts = append(parts, e.Detail)
	}
	return strings.Join(parts, ": ")
}

// agents: the user (requestor), the client app (Source Role ID, with the
// caller's network address) and this server (Destination Role ID).
func agents(e audit.Event, o Options) []any {
	var out []any
	userIsClient := e.Actor != "" && e.Actor == e.ClientID
	if e.Actor != "" && !userIsClient {
		user := map[string]any{
			"type":      map[string]any{"coding": []any{coding(UserAgentTypes, "UserOauthAgent", "User OAuth Agent participant")}},
			"who":       map[string]any{"identifier": map[string]any{"system": UserSystem, "value": e.Actor}},
			"requestor": true,
		}
		if e.Scopes != "" {
			user["policy"] = []any{e.Scopes}
		}
		out = append(out, user)
	}
	client := map[string]any{
		"type":      map[string]any{"coding": []any{coding(DICOM, "110153", "Source Role ID")}},
		"requestor": e.Actor == "" || userIsClient,
	}
	if e.ClientID != "" {
		client["who"] = map[string]any{"identifier": map[string]any{"system": ClientSystem, "value": e.ClientID}}
	} else {
		client["who"] = map[string]any{"display": "unidentified client"}
	}
	if e.Address != "" {
		client["network"] = map[string]any{"address": e.Address, "type": "2"}
	}
	if userIsClient && e.Scopes != "" {
		client["policy"] = []any{e.Scopes}
	}
	out = append(out, client)
	server := map[string]any{
		"type":      map[string]any{"coding": []any{coding(DICOM, "110152", "Destination Role ID")}},
		"who":       map[string]any{"display": "smartgate"},
		"requestor": false,
	}
	if o.Base != "" {
		server["who"] = map[string]any{"identifier": map[string]any{"value": o.Base}, "display": "smartgate"}
		if u, err := url.Parse(o.Base); err == nil && u.Hostname() != "" {
			server["network"] = map[string]any{"address": u.Hostname(), "type": "1"}
		}
	}
	return append(out, server)
}

func source(o Options) map[string]any {
	observer := map[string]any{"display": "smartgate"}
	if o.Base != "" {
		observer["identifier"] = map[string]any{"value": o.Base}
	}
	return map[string]any{
		"site":     "smartgate",
		"observer": observer,
		"type":     []any{coding(SourceType, "4", "Application Server")},
	}
}

// entities: the request (BALP transaction entity), the resource or the
// query, the patient; and the decision trace of a refusal.
func entities(e audit.Event) []any {
	var out []any
	if e.RequestID != "" {
		out = append(out, map[string]any{
			"type": coding(BALPEntityType, "XrequestId", "X-Request-Id"),
			"what": map[string]any{"identifier": map[string]any{"value": e.RequestID}},
		})
	}
	if e.Resource != "" {
		out = append(out, resourceEntity(e))
	}
	if p := patientOf(e); p != "" {
		out = append(out, map[string]any{
			"what": map[string]any{"reference": "Patient/" + p},
			"type": coding(EntityType, "1", "Person"),
			"role": coding(ObjectRole, "1", "Patient"),
		})
	}
	if e.Trace != "" {
		out = append(out, map[string]any{
			"type":        coding(EntityType, "4", "Other"),
			"description": "access decision",
			"detail":      []any{map[string]any{"type": "trace", "valueBase64Binary": base64.StdEncoding.EncodeToString([]byte(e.Trace))}},
		})
	}
	return out
}

func resourceEntity(e audit.Event) map[string]any {
	path, query, isQuery := strings.Cut(e.Resource, "?")
	if isQuery || e.Action == "search-type" || strings.HasSuffix(path, "_history") {
		return map[string]any{
			"type":        coding(EntityType, "2", "System Object"),
			"role":        coding(ObjectRole, "24", "Query"),
			"description": e.Resource,
			"query":       base64.StdEncoding.EncodeToString([]byte(e.Resource)),
			"detail":      []any{map[string]any{"type": "parameters", "valueString": query}},
		}
	}
	ent := map[string]any{
		"type": coding(EntityType, "2", "System Object"),
		"role": coding(ObjectRole, "4", "Domain Resource"),
	}
	if e.Kind == "fhir" {
		ent["what"] = map[string]any{"reference": path}
	} else {
		ent["what"] = map[string]any{"identifier": map[string]any{"value": e.Resource}}
	}
	return ent
}
