package smart

import (
	"strings"
)

// Describe returns a plain-English sentence for the consent page saying what
// granting s lets the app do, e.g.
//
//	patient/Observation.rs?category=…|laboratory  "Read and search your Observation records (category: laboratory)"
//	user/*.rs                                     "See all data you are allowed to see about any patient"
//	offline_access                                "Keep access after you close the app, until you revoke it"
//
// Patient-context scopes are worded for the person whose record is in
// context ("your … records"). The text is plain (not HTML): the page must
// escape it, as html/template does. Describe of the zero Scope is "".
func Describe(s Scope) string {
	switch s.kind {
	case KindResource:
		return describeResource(s)
	case KindLaunch:
		return "Know the context you launch the app from in your health record system, such as the current patient and encounter"
	case KindLaunchPatient:
		return "Know which patient's record is selected when the app starts"
	case KindLaunchEncounter:
		return "Know which encounter (visit or stay) is selected when the app starts"
	case KindOpenID:
		return "Confirm who you are when you sign in to the app"
	case KindFHIRUser:
		return "Know which record represents you (your own patient, practitioner or related-person record)"
	case KindProfile:
		return "See your basic profile: your name and a link to the record that represents you"
	case KindOfflineAccess:
		return "Keep access after you close the app, until you revoke it"
	case KindOnlineAccess:
		return "Keep access while you stay signed in, until you sign out"
	case KindOther:
		switch s.name {
		case "email":
			return "See your email address"
		case "phone":
			return "See your phone number"
		case "address":
			return "See your postal address"
		case ScopeSCIM:
			return "Manage the people and groups who may sign in (SCIM), with your administrator's rights"
		case ScopeLaunchCreate:
			return "Open apps for a patient of your choosing (create EHR launches), with your administrator's rights"
		}
		return "Use the additional permission \u201c" + s.name + "\u201d"
	}
	return ""
}

// DescribeScope is Describe of the scope written s, for pages that hold
// scopes as strings; a string that is not a scope is shown as it is.
func DescribeScope(s string) string {
	sc, err := ParseScope(s)
	if err != nil {
		return s
	}
	return Describe(sc)
}

func describeResource(s Scope) string {
	readOnly := s.perms == v1Read || s.perms == Read
	var b strings.Builder
	switch {
	case s.context == ContextUser && s.typ == "*" && readOnly:
		b.WriteString("See all data you are allowed to see about any patient")
	case s.context == ContextPatient && s.typ == "*" && readOnly:
		b.WriteString("See all your health records")
	default:
		b.WriteString(verbs(s.perms))
		b.WriteByte(' ')
		b.WriteString(object(s.context, s.typ))
	}
	if ps := s.Params(); len(ps) > 0 {
		b.WriteString(" (")
		for i, p := range ps {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(p.Name)
			b.WriteString(": ")
			b.WriteString(displayValue(p.Value))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// verbs returns e.g. "Read and search" or "Create, read, update, delete and search".
func verbs(p Permissions) string {
	words := [...]string{"create", "read", "update", "delete", "search"}
	var ws []string
	for i, w := range words {
		if p&(1<<i) != 0 {
			ws = append(ws, w)
		}
	}
	var out string
	switch len(ws) {
	case 0:
		return "Use"
	case 1:
		out = ws[0]
	default:
		out = strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
	}
	return strings.ToUpper(out[:1]) + out[1:]
}

// object names whose records a scope is about.
func object(ctx Context, typ string) string {
	switch ctx {
	case ContextPatient:
		if typ == "*" {
			return "all your health records"
		}
		return "your " + typ + " records"
	case ContextUser:
		if typ == "*" {
			return "all records you are allowed to access, about any patient"
		}
		return typ + " records you are allowed to access, about any patient"
	default: // system
		if typ == "*" {
			return "all records on the server, with no user signed in"
		}
		return "all " + typ + " records on the server, with no user signed in"
	}
}

// displayValue shows a search value the way a person reads it: each
// comma-separated alternative (FHIR "or") by its code, without the system
// URL, e.g. "http://…/observation-category|laboratory" ⇒ "laboratory".
func displayValue(v string) string {
	alts := strings.Split(v, ",")
	for i, a := range alts {
		if j := strings.LastIndexByte(a, '|'); j >= 0 {
			if code := a[j+1:]; code != "" {
				a = code
			} else {
				a = a[:j]
			}
		}
		alts[i] = a
	}
	return strings.Join(alts, " or ")
}
