package web

import (
	"strings"
)

// DescribeScope explains a scope in plain words for the consent page. It
// knows the OpenID Connect scopes, the SMART launch and refresh scopes and
// SMART v1/v2 clinical scopes (patient/, user/, system/ with read/write or
// cruds permissions and an optional search query); anything else is shown
// as the scope itself.
func DescribeScope(scope string) string {
	switch scope {
	case "openid":
		return "Confirm who you are"
	case "fhirUser":
		return "Know which person record (patient or practitioner) is yours"
	case "profile":
		return "See your name and profile"
	case "email":
		return "See your email address"
	case "offline_access":
		return "Keep access after you close the app, until you withdraw it"
	case "online_access":
		return "Keep access while you stay logged in"
	case "launch":
		return "Use the record that is open in your health system"
	case "launch/patient":
		return "Know which patient's record is selected"
	case "launch/encounter":
		return "Know which visit (encounter) is selected"
	}
	ctxPart, rest, ok := strings.Cut(scope, "/")
	if !ok {
		return scope
	}
	resource, perm, ok := strings.Cut(rest, ".")
	if !ok {
		return scope
	}
	perm, query, _ := strings.Cut(perm, "?")
	var what string
	switch resource {
	case "*":
		what = "all kinds of health records"
	default:
		what = splitWords(resource) + " records"
	}
	var whose string
	switch ctxPart {
	case "patient":
		whose = "of the selected patient"
	case "user":
		whose = "that you can access"
	case "system":
		whose = "on the server, without a person present"
	default:
		return scope
	}
	verbs := describePerms(perm)
	if verbs == "" {
		return scope
	}
	out := verbs + " " + what + " " + whose
	if query != "" {
		out += " (limited to " + query + ")"
	}
	return out
}

func describePerms(p string) string {
	switch p {
	case "read":
		return "Read"
	case "write":
		return "Create and change"
	case "*":
		return "Read, create and change"
	}
	var parts []string
	seen := ""
	for _, c := range p {
		if strings.ContainsRune(seen, c) || !strings.ContainsRune("cruds", c) {
			return ""
		}
		seen += string(c)
		switch c {
		case 'c':
			parts = append(parts, "create")
		case 'r':
			parts = append(parts, "read")
		case 'u':
			parts = append(parts, "change")
		case 'd':
			parts = append(parts, "delete")
		case 's':
			parts = append(parts, "search")
		}
	}
	if len(parts) == 0 {
		return ""
	}
	out := strings.Join(parts[:len(parts)-1], ", ")
	if out != "" {
		out += " and "
	}
	out += parts[len(parts)-1]
	return strings.ToUpper(out[:1]) + out[1:]
}

// splitWords turns "MedicationRequest" into "medication request".
func splitWords(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(c - 'A' + 'a')
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
