package smart

import (
	"fmt"
	"net/url"
	"strings"
)

// RoleLaunch is the only fhirContext role defined by SMART App Launch 2.2; an
// item without a role means the same thing.
const RoleLaunch = "launch"

// ValidFHIRContext checks the items of a token response's fhirContext array
// against SMART App Launch 2.2 (IG scopes-and-launch-context.html#fhircontext,
// checklist E7) and returns an error naming the first bad item. Each item:
//   - has at least one of reference, canonical and identifier;
//   - reference, when present, is a relative reference "Type/id" (a FHIR type
//     and a FHIR id);
//   - canonical, when present, is an absolute http(s) URL whose path ends in
//     "Type/id", optionally followed by "|version" (the shape Inferno's
//     validator requires);
//   - identifier, when present, is a non-empty JSON object (a FHIR Identifier);
//   - type, when present, is a FHIR type name and agrees with reference's type;
//   - role, when present, is "launch" or an absolute URI, never "";
//   - a Patient or Encounter item (by reference or type) must carry a role
//     other than "launch": patient and encounter go in the top-level patient
//     and encounter parameters instead.
//
// A nil or empty list is valid.
func ValidFHIRContext(items []map[string]any) error {
	for i, it := range items {
		if err := validFHIRContextItem(it); err != nil {
			return fmt.Errorf("smart: fhirContext[%d]: %w", i, err)
		}
	}
	return nil
}

func validFHIRContextItem(it map[string]any) error {
	ref, hasRef, err := stringField(it, "reference")
	if err != nil {
		return err
	}
	canon, hasCanon, err := stringField(it, "canonical")
	if err != nil {
		return err
	}
	idv, hasID := it["identifier"]
	if !hasRef && !hasCanon && !hasID {
		return fmt.Errorf("needs at least one of reference, canonical and identifier")
	}
	var types []string
	if hasRef {
		typ, id, ok := strings.Cut(ref, "/")
		if !ok || !IsResourceType(typ) || !IsFHIRID(id) {
			return fmt.Errorf("reference %q is not a relative reference Type/id", ref)
		}
		types = append(types, typ)
	}
	if hasCanon {
		typ, err := canonicalType(canon)
		if err != nil {
			return err
		}
		types = append(types, typ)
	}
	if hasID {
		obj, ok := idv.(map[string]any)
		if !ok || len(obj) == 0 {
			return fmt.Errorf("identifier is not a non-empty object")
		}
	}
	typ, hasType, err := stringField(it, "type")
	if err != nil {
		return err
	}
	if hasType {
		if !IsResourceType(typ) {
			return fmt.Errorf("type %q is not a FHIR resource type", typ)
		}
		if hasRef && types[0] != typ {
			return fmt.Errorf("type %q does not match reference %q", typ, ref)
		}
		types = append(types, typ)
	}
	role, hasRole, err := stringField(it, "role")
	if err != nil {
		return err
	}
	if hasRole && role != RoleLaunch {
		u, err := url.Parse(role)
		if err != nil || !u.IsAbs() || (u.Host == "" && u.Opaque == "" && u.Path == "") {
			return fmt.Errorf("role %q is neither %q nor an absolute URI", role, RoleLaunch)
		}
	}
	for _, t := range types {
		if (t == "Patient" || t == "Encounter") && (!hasRole || role == RoleLaunch) {
			return fmt.Errorf("%s belongs in the top-level %s parameter, not in fhirContext, unless it has a role other than %q",
				t, strings.ToLower(t), RoleLaunch)
		}
	}
	return nil
}

// stringField returns it[key] as a string; present but not a string, or an
// empty string, is an error.
func stringField(it map[string]any, key string) (string, bool, error) {
	v, ok := it[key]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", true, fmt.Errorf("%s is not a non-empty string", key)
	}
	return s, true, nil
}

// canonicalType checks a canonical URL (http(s)://…/Type/id[|version]) and
// returns its resource type.
func canonicalType(c string) (string, error) {
	base, _, _ := strings.Cut(c, "|")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("canonical %q is not an absolute http(s) URL", c)
	}
	segs := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	if len(segs) < 3 || !IsResourceType(segs[len(segs)-2]) || !IsFHIRID(segs[len(segs)-1]) {
		return "", fmt.Errorf("canonical %q does not end in Type/id", c)
	}
	return segs[len(segs)-2], nil
}
