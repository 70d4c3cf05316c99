package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/smartgate/smartgate/account"
	"github.com/smartgate/smartgate/authz"
	"github.com/smartgate/smartgate/config"
	"github.com/smartgate/smartgate/demoapp"
	"github.com/smartgate/smartgate/fhir"
	"github.com/smartgate/smartgate/fhir/demo"
	"github.com/smartgate/smartgate/fhir/picker"
	"github.com/smartgate/smartgate/fhir/search"
	"github.com/smartgate/smartgate/store"
)

const (
	demoLoadedSetting     = "demo.loaded"
	demoPatientUser       = "demo-patient"
	demoPractitionerUser  = "demo-practitioner"
	syntheaIdentifierSyst = "https://github.com/synthetichealth/synthea"
)

// setupDemo loads the bundled synthetic patients (once), makes a demo
// patient account (linked to the first patient) and a demo practitioner
// account, and registers the demo SMART app. It returns what to print:
// the demo app's URL and, the first time, the demo log-ins.
func setupDemo(ctx context.Context, cfg *config.Config, db database, people *account.People, reg *search.Registry) ([]string, error) {
	var msgs []string
	if _, err := db.Setting(ctx, demoLoadedSetting); errors.Is(err, store.ErrNotFound) {
		n := 0
		err := fs.WalkDir(demo.Bundles, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
				return err
			}
			f, err := demo.Bundles.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			res, err := fhir.Import(ctx, db, f, fhir.ImportOptions{Registry: reg})
			if err != nil {
				return fmt.Errorf("demo data %s: %w", path, err)
			}
			n += res.Resources
			return nil
		})
		if err != nil {
			return nil, err
		}
		if err := db.PutSetting(ctx, demoLoadedSetting, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
			return nil, err
		}
		msgs = append(msgs, fmt.Sprintf("demo: loaded %d synthetic FHIR resources", n))
	} else if err != nil {
		return nil, err
	}

	patientID, patientName, err := firstDemoPatient(ctx, db, reg)
	if err != nil {
		return nil, err
	}
	for _, acct := range []struct {
		name, role, fhirUser, given, family string
	}{
		{demoPatientUser, account.RolePatient, "Patient/" + patientID, patientName, ""},
		{demoPractitionerUser, account.RolePractitioner, "", "Demo", "Practitioner"},
	} {
		if _, err := db.UserByName(ctx, acct.name); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		password, err := account.RandomPassword()
		if err != nil {
			return nil, err
		}
		u := &account.User{UserName: acct.name, Active: true, Roles: []string{acct.role}, FHIRUser: acct.fhirUser,
			Name: account.Name{GivenName: acct.given, FamilyName: acct.family, Formatted: strings.TrimSpace(acct.given + " " + acct.family)}}
		u.DisplayName = u.Name.Formatted
		if err := people.Create(ctx, u, password); err != nil {
			return nil, err
		}
		msgs = append(msgs, fmt.Sprintf("demo log-in (%s): user %s password %s", acct.role, acct.name, password))
	}

	bases := listenerURLs(cfg)
	if _, err := db.GetClient(ctx, demoapp.DefaultClientID); errors.Is(err, store.ErrNotFound) {
		// The app accepts an EHR launch only from its own origin: name the
		// HTTP listener first when it is on (browsers trust it on loopback).
		order := bases
		if cfg.HTTPAddr != "" {
			order = append([]string{strings.TrimRight(cfg.HTTPURL, "/")}, bases...)
		}
		md, err := demoapp.Client(demoapp.DefaultClientID, order...)
		if err != nil {
			return nil, err
		}
		c := &authz.Client{
			ID: md.ClientID, Name: md.ClientName, RedirectURIs: md.RedirectURIs, GrantTypes: md.GrantTypes,
			ResponseTypes: md.ResponseTypes, Scopes: strings.Fields(md.Scope),
			TokenEndpointAuthMethod: md.TokenEndpointAuthMethod, LaunchURI: md.LaunchURI,
			RequirePKCE: true, Public: true, CreatedAt: time.Now().UTC(),
		}
		if err := db.CreateClient(ctx, c); err != nil {
			return nil, fmt.Errorf("registering the demo app: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	for _, b := range demoBases(cfg) {
		msgs = append(msgs, "demo app: "+demoapp.LaunchURL(b))
	}
	msgs = append(msgs, fmt.Sprintf("demo patient: %s (Patient/%s)", patientName, patientID))
	return msgs, nil
}

func demoBases(cfg *config.Config) []string {
	var out []string
	if cfg.HTTPAddr != "" {
		out = append(out, strings.TrimRight(cfg.HTTPURL, "/"))
	}
	if cfg.HTTPSAddr != "" {
		out = append(out, strings.TrimRight(cfg.HTTPSURL, "/"))
	}
	return out
}

// firstDemoPatient finds the stored Patient of the first bundled bundle by
// its Synthea identifier.
func firstDemoPatient(ctx context.Context, db database, reg *search.Registry) (id, name string, err error) {
	entries, err := fs.ReadDir(demo.Bundles, ".")
	if err != nil {
		return "", "", err
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := fs.ReadFile(demo.Bundles, e.Name())
		if err != nil {
			return "", "", err
		}
		var bundle struct {
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(b, &bundle); err != nil {
			return "", "", fmt.Errorf("demo bundle %s: %w", e.Name(), err)
		}
		for _, en := range bundle.Entry {
			var p struct {
				ResourceType string `json:"resourceType"`
				Identifier   []struct {
					System string `json:"system"`
					Value  string `json:"value"`
				} `json:"identifier"`
			}
			if json.Unmarshal(en.Resource, &p) != nil || p.ResourceType != "Patient" {
				continue
			}
			ident := ""
			for _, i := range p.Identifier {
				if i.System == syntheaIdentifierSyst {
					ident = i.Value
				}
			}
			q, err := reg.ParseQuery("Patient", url.Values{"identifier": {syntheaIdentifierSyst + "|" + ident}}, false)
			if err != nil {
				return "", "", err
			}
			res, err := db.SearchResources(ctx, fhir.SearchRequest{Query: q, Now: time.Now()})
			if err != nil {
				return "", "", err
			}
			if len(res.Matches) == 0 {
				return "", "", fmt.Errorf("demo patient %s not found after import", ident)
			}
			s := picker.PatientSummary(res.Matches[0])
			return res.Matches[0].ID, s.Name, nil
		}
	}
	return "", "", errors.New("no Patient in the demo bundles")
}
