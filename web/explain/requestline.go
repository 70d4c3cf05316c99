package explain

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/search"
)

// maxLine bounds a pasted request line in bytes.
const maxLine = 4096

// Line is a parsed FHIR request line: which interaction on what.
type Line struct {
	Method      string
	Interaction fhir.Interaction
	Type        string // "" for system history
	ID          string // "" for type-level interactions
	Version     int64  // vread only
	// Query is the query string as given (search parameters are not part
	// of the access decision: a search is limited, not refused).
	Query string
}

// ParseRequestLine reads a request line as an administrator pastes it:
// "GET /fhir/Observation/123", "GET /fhir/Observation?patient=X", also
// with a full URL ("GET https://host/fhir/Patient/1"), a trailing
// "HTTP/1.1", or a path without /fhir/ ("GET Patient/1"). Only the FHIR
// interactions the endpoint implements are accepted.
func ParseRequestLine(s string) (Line, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Line{}, errors.New("enter a request line, such as GET /fhir/Observation/123")
	}
	if len(s) > maxLine {
		return Line{}, fmt.Errorf("the request line is longer than %d bytes", maxLine)
	}
	if strings.ContainsAny(s, "\r\n") {
		return Line{}, errors.New("give one line only: the method and the path, such as GET /fhir/Observation/123")
	}
	f := strings.Fields(s)
	if len(f) == 3 && strings.HasPrefix(strings.ToUpper(f[2]), "HTTP/") {
		f = f[:2]
	}
	if len(f) != 2 {
		return Line{}, errors.New("give the method and the path, such as GET /fhir/Observation/123")
	}
	method := strings.ToUpper(f[0])
	switch method {
	case "GET", "POST", "PUT", "DELETE":
	default:
		return Line{}, fmt.Errorf("%q is not a method of the FHIR endpoint (GET, POST, PUT, DELETE)", f[0])
	}
	u, err := url.Parse(f[1])
	if err != nil {
		return Line{}, errors.New("the path is not a URL path")
	}
	if u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https" {
		return Line{}, errors.New("the URL must be http or https")
	}
	path := u.Path
	switch {
	case strings.HasPrefix(path, "/fhir/"), path == "/fhir":
		path = strings.TrimPrefix(strings.TrimPrefix(path, "/fhir"), "/")
	case u.Scheme == "" && u.Host == "" && !strings.HasPrefix(path, "/"):
	default:
		return Line{}, errors.New("the path must be under /fhir/, such as /fhir/Observation/123")
	}
	l := Line{Method: method, Query: u.RawQuery}
	if err := l.route(strings.TrimSuffix(path, "/")); err != nil {
		return Line{}, err
	}
	return l, nil
}

// route sets the interaction, type, id and version from the path below
// /fhir/, as fhir.Server.Register routes it.
func (l *Line) route(path string) error {
	var seg []string
	if path != "" {
		seg = strings.Split(path, "/")
	}
	unsupported := fmt.Errorf("%s /fhir/%s is not an interaction of the FHIR endpoint", l.Method, path)
	if len(seg) == 0 {
		return errors.New("the path names no resource type, such as /fhir/Observation")
	}
	if seg[0] == "_history" && len(seg) == 1 && l.Method == "GET" {
		l.Interaction = fhir.InteractionHistorySystem
		return nil
	}
	l.Type = seg[0]
	if !smart.IsResourceType(l.Type) {
		return fmt.Errorf("%q is not a resource type", l.Type)
	}
	if len(seg) >= 2 && seg[1] != "_history" && seg[1] != "_search" {
		l.ID = seg[1]
		if !search.ValidID(l.ID) {
			return fmt.Errorf("%q is not a valid FHIR id", l.ID)
		}
	}
	switch {
	case len(seg) == 1:
		l.Interaction = map[string]fhir.Interaction{"GET": fhir.InteractionSearchType, "POST": fhir.InteractionCreate,
			"PUT": fhir.InteractionUpdate, "DELETE": fhir.InteractionDelete}[l.Method]
	case len(seg) == 2 && seg[1] == "_search" && l.Method == "POST":
		l.Interaction = fhir.InteractionSearchType
	case len(seg) == 2 && seg[1] == "_history" && l.Method == "GET":
		l.Interaction = fhir.InteractionHistoryType
	case len(seg) == 2 && l.ID != "":
		in, ok := map[string]fhir.Interaction{"GET": fhir.InteractionRead, "PUT": fhir.InteractionUpdate,
			"DELETE": fhir.InteractionDelete}[l.Method]
		if !ok {
			return unsupported
		}
		l.Interaction = in
	case len(seg) == 3 && l.ID != "" && seg[2] == "_history" && l.Method == "GET":
		l.Interaction = fhir.InteractionHistoryInstance
	case len(seg) == 4 && l.ID != "" && seg[2] == "_history" && l.Method == "GET":
		v, err := strconv.ParseInt(seg[3], 10, 64)
		if err != nil || v < 1 {
			return fmt.Errorf("%q is not a version id", seg[3])
		}
		l.Interaction, l.Version = fhir.InteractionVRead, v
	default:
		return unsupported
	}
	return nil
}

// String is the line in canonical form.
func (l Line) String() string {
	p := "/fhir/" + l.Type
	if l.Interaction == fhir.InteractionHistorySystem {
		p = "/fhir/_history"
	}
	if l.ID != "" {
		p += "/" + l.ID
	}
	switch l.Interaction {
	case fhir.InteractionHistoryType, fhir.InteractionHistoryInstance:
		p += "/_history"
	case fhir.InteractionVRead:
		p += "/_history/" + strconv.FormatInt(l.Version, 10)
	case fhir.InteractionSearchType:
		if l.Method == "POST" {
			p += "/_search"
		}
	}
	if l.Query != "" {
		p += "?" + l.Query
	}
	return l.Method + " " + p
}
