package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/audit"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/authz/smart"
	"github.com/smartgate/smartgate/internal/pagetmpl"
	"github.com/smartgate/smartgate/internal/reqctx"
	"github.com/smartgate/smartgate/listener"
	"github.com/smartgate/smartgate/store"
)

// Pages is what the admin page needs from the page server (*web.Server).
type Pages interface {
	// RequireRole wraps a handler: log-in, role, CSRF on unsafe methods,
	// page headers.
	RequireRole(next http.Handler, roles ...string) http.Handler
	CSRFToken(w http.ResponseWriter, r *http.Request) (string, error)
	Fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error)
}

// Path is the EHR launch page.
const Path = "/admin/launch"

type pageTemplate = template.Template

func parsePage(assets fs.FS) (*pageTemplate, error) {
	pages, err := pagetmpl.Parse(assets, nil, []string{"admin_nav"}, "launch")
	if err != nil {
		return nil, fmt.Errorf("launch: %w", err)
	}
	return pages["launch"], nil
}

// Register adds the page (administrators only) and, when configured, the
// launch API to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.Handle("GET "+Path, s.cfg.Pages.RequireRole(http.HandlerFunc(s.form), account.RoleAdmin))
	mux.Handle("POST "+Path, s.cfg.Pages.RequireRole(http.HandlerFunc(s.submit), account.RoleAdmin))
	if s.cfg.API != nil {
		s.registerAPI(mux)
	}
}

type formValues struct {
	ClientID, Patient, Encounter, Intent, StyleURL, FHIRContext string
	Banner                                                      bool
}

type pageView struct {
	CSRF    string
	TTL     string
	Error   string
	Clients []*authz.Client
	Form    formValues
}

// launchable lists the enabled clients that registered a launch_uri.
func (s *Service) launchable(ctx context.Context) ([]*authz.Client, error) {
	all, err := s.cfg.Clients.ListClients(ctx)
	if err != nil {
		return nil, err
	}
	var out []*authz.Client
	for _, c := range all {
		if c.LaunchURI != "" && !c.Disabled {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Service) form(w http.ResponseWriter, r *http.Request) {
	s.show(w, r, http.StatusOK, "", formValues{Banner: true})
}

func (s *Service) show(w http.ResponseWriter, r *http.Request, status int, msg string, f formValues) {
	clients, err := s.launchable(r.Context())
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	csrf, err := s.cfg.Pages.CSRFToken(w, r)
	if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	var buf bytes.Buffer
	v := pageView{CSRF: csrf, TTL: s.cfg.TTL.String(), Error: msg, Clients: clients, Form: f}
	if err := s.page.ExecuteTemplate(&buf, "base", v); err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", fmt.Errorf("launch: render: %w", err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fhirID is the FHIR id grammar (R4 datatypes: [A-Za-z0-9\-\.]{1,64}).
var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// badInput is a form error shown to the administrator.
type badInput string

func (e badInput) Error() string { return string(e) }

func (s *Service) submit(w http.ResponseWriter, r *http.Request) {
	f := formValues{
		ClientID:    r.PostFormValue("client_id"),
		Patient:     strings.TrimSpace(r.PostFormValue("patient")),
		Encounter:   strings.TrimSpace(r.PostFormValue("encounter")),
		Intent:      strings.TrimSpace(r.PostFormValue("intent")),
		StyleURL:    strings.TrimSpace(r.PostFormValue("smart_style_url")),
		FHIRContext: strings.TrimSpace(r.PostFormValue("fhir_context")),
		Banner:      r.PostFormValue("need_patient_banner") == "true",
	}
	actor := ""
	if s.cfg.Actor != nil {
		actor = s.cfg.Actor(r.Context())
	}
	c, err := s.create(r, f, actor, "")
	var bad badInput
	if errors.As(err, &bad) {
		s.show(w, r, http.StatusBadRequest, string(bad), f)
		return
	} else if err != nil {
		s.cfg.Pages.Fail(w, r, http.StatusInternalServerError, "", err)
		return
	}
	w.Header().Set("Location", c.Location)
	w.WriteHeader(http.StatusSeeOther)
}

// created is a launch just issued.
type created struct {
	Client   *authz.Client
	Value    string // the launch parameter
	Issuer   string // the FHIR base (iss)
	Location string // the app's launch_uri with iss and launch
	Context  authz.LaunchContext
}

// create is the one way a launch is made, from the page and from the API:
// it checks f (a badInput for the caller to show), issues the launch under
// the FHIR base of r's listener for actor (the person launching, "" for a
// client's own token) and audits it; callerClient is the client whose
// token asked for it through the API ("" from the page).
func (s *Service) create(r *http.Request, f formValues, actor, callerClient string) (*created, error) {
	ctx := r.Context()
	client, lc, err := s.check(ctx, f)
	if err != nil {
		return nil, err
	}
	base := listener.BaseURL(r)
	if lc.SmartStyleURL == "" && s.cfg.StylePath != "" {
		lc.SmartStyleURL = base + s.cfg.StylePath
	}
	iss := base + "/fhir"
	value, err := s.Issue(ctx, client.ID, iss, actor, lc)
	if err != nil {
		return nil, err
	}
	if s.cfg.Audit != nil {
		who, detail := actor, ""
		if callerClient != "" {
			detail = "created through the launch API by client " + callerClient
			if who == "" {
				who = callerClient
			}
		}
		s.cfg.Audit.Record(ctx, audit.Event{At: s.cfg.Now(), Kind: "launch", Actor: who, ClientID: client.ID,
			Patient: lc.Patient, Action: "ehr-launch", Outcome: audit.Success, Detail: detail,
			Address: reqctx.ClientAddress(r), RequestID: reqctx.ID(ctx)})
	}
	return &created{Client: client, Value: value, Issuer: iss, Location: launchLocation(client.LaunchURI, iss, value), Context: lc}, nil
}

// launchLocation appends iss and launch to the app's launch_uri, keeping
// its own query as it is.
func launchLocation(launchURI, iss, value string) string {
	u, err := url.Parse(launchURI)
	if err != nil {
		return launchURI
	}
	add := url.Values{"iss": {iss}, "launch": {value}}.Encode()
	if u.RawQuery != "" {
		u.RawQuery += "&" + add
	} else {
		u.RawQuery = add
	}
	return u.String()
}

// check validates the form: a launchable client, an existing patient, an
// optional encounter of that patient, a valid fhirContext and style URL.
func (s *Service) check(ctx context.Context, f formValues) (*authz.Client, authz.LaunchContext, error) {
	var lc authz.LaunchContext
	clients, err := s.launchable(ctx)
	if err != nil {
		return nil, lc, err
	}
	var client *authz.Client
	for _, c := range clients {
		if c.ID == f.ClientID {
			client = c
		}
	}
	if client == nil {
		return nil, lc, badInput("Please choose an app from the list.")
	}
	if !fhirID.MatchString(f.Patient) {
		return nil, lc, badInput("Please enter a Patient id.")
	}
	if err := s.exists(ctx, "Patient", f.Patient); err != nil {
		return nil, lc, err
	}
	lc.Patient = f.Patient
	if f.Encounter != "" {
		if !fhirID.MatchString(f.Encounter) {
			return nil, lc, badInput("The Encounter id is not valid.")
		}
		if err := s.encounterOf(ctx, f.Encounter, f.Patient); err != nil {
			return nil, lc, err
		}
		lc.Encounter = f.Encounter
	}
	if len(f.Intent) > 200 {
		return nil, lc, badInput("The intent is too long.")
	}
	lc.Intent = f.Intent
	banner := f.Banner
	lc.NeedPatientBanner = &banner
	if f.StyleURL != "" {
		u, err := url.Parse(f.StyleURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, lc, badInput("The style sheet URL must be an absolute http(s) URL.")
		}
		lc.SmartStyleURL = f.StyleURL
	}
	if f.FHIRContext != "" {
		var items []map[string]any
		if err := json.Unmarshal([]byte(f.FHIRContext), &items); err != nil {
			return nil, lc, badInput("fhirContext must be a JSON array of objects.")
		}
		if err := smart.ValidFHIRContext(items); err != nil {
			return nil, lc, badInput("fhirContext is not valid: " + err.Error())
		}
		lc.FHIRContext = items
	}
	return client, lc, nil
}

func (s *Service) read(ctx context.Context, typ, id string) (map[string]any, error) {
	res, err := s.cfg.Resources.ReadResource(ctx, typ, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && res.Deleted {
		return nil, badInput(fmt.Sprintf("There is no %s with the id %s.", typ, id))
	} else if err != nil {
		return nil, fmt.Errorf("launch: read %s/%s: %w", typ, id, err)
	}
	var m map[string]any
	if err := json.Unmarshal(res.JSON, &m); err != nil {
		return nil, fmt.Errorf("launch: decode %s/%s: %w", typ, id, err)
	}
	return m, nil
}

func (s *Service) exists(ctx context.Context, typ, id string) error {
	_, err := s.read(ctx, typ, id)
	return err
}

// encounterOf checks that Encounter/id exists and its subject is the patient
// (account.PatientOf: a relative reference, as the access rules read it).
func (s *Service) encounterOf(ctx context.Context, id, patient string) error {
	m, err := s.read(ctx, "Encounter", id)
	if err != nil {
		return err
	}
	subj, _ := m["subject"].(map[string]any)
	ref, _ := subj["reference"].(string)
	if own, ok := account.PatientOf(ref); !ok || own != patient {
		return badInput(fmt.Sprintf("Encounter %s is not an encounter of Patient %s.", id, patient))
	}
	return nil
}
