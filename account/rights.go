package account

import (
	"fmt"
	"slices"

	"github.com/smartgate/smartgate/authz/smart"
)

// RoleCeiling is the one table of what a role may be granted at most (its
// base ceiling, issue 11 item 5): an administrator everything, SCIM
// and launch creation included (smart.Privileged), a practitioner all data of users and
// patients, a patient their own (a patient's user/ scopes reach only their
// compartment: fhir/access). Every rule that needs a role's scopes
// (EffectiveRights, the OWin grant) reads it. An unknown role has none.
// The system/ scopes are the OWin grant's only: an app acting for a person
// is never granted them (Rights.AppLimit).
func RoleCeiling(role string) []string {
	switch role {
	case RoleAdmin:
		return []string{"system/*.cruds", "user/*.cruds", "patient/*.cruds", smart.ScopeSCIM, smart.ScopeLaunchCreate}
	case RolePractitioner:
		return []string{"user/*.cruds", "patient/*.cruds"}
	case RolePatient:
		return []string{"patient/*.cruds", "user/*.cruds"}
	}
	return nil
}

// EffectiveRoles are roles, or the patient role when there is none (an
// account with no role counts as a patient: MayActForOthers).
func EffectiveRoles(roles []string) []string {
	if !slices.ContainsFunc(roles, ValidRole) {
		return []string{RolePatient}
	}
	return roles
}

// BaseCeiling is the union of the RoleCeiling of roles (a patient's when
// there is no role), in order, without repeats.
func BaseCeiling(roles []string) []string {
	var out []string
	for _, r := range EffectiveRoles(roles) {
		for _, sc := range RoleCeiling(r) {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	return out
}

// EffectiveRights are the rights of u as a member of groups: the roles u
// holds directly or through one of the groups, and the ceiling of those
// roles (BaseCeiling) intersected with the union of the ceilings of the
// groups that set one (smart.NarrowTo); with no such group, the base
// ceiling. Roles keep u's order, then the groups', without repeats.
func EffectiveRights(u *User, groups []Group) Rights {
	var r Rights
	addRoles := func(roles []string) {
		for _, role := range roles {
			if ValidRole(role) && !slices.Contains(r.Roles, role) {
				r.Roles = append(r.Roles, role)
			}
		}
	}
	addRoles(u.Roles)
	var union []string
	limited := false
	for _, g := range groups {
		addRoles(g.Roles)
		if g.Ceiling != nil {
			limited = true
			union = append(union, g.Ceiling...)
		}
	}
	r.Ceiling = BaseCeiling(r.Roles)
	if limited {
		// A group's ceiling speaks of data (ValidateCeiling): it does not
		// take SCIM or launches from an administrator.
		for _, sc := range r.Ceiling {
			if smart.Privileged(sc) {
				union = append(union, sc)
			}
		}
		// Not nil even when empty: nil would mean the base ceiling.
		r.Ceiling = append([]string{}, smart.NarrowTo(r.Ceiling, union)...)
	}
	return r
}

// Admin reports whether r holds the admin role: the one test of "is this
// person an administrator" (directly or through a group, when r comes
// from EffectiveRights or People.Rights).
func (r Rights) Admin() bool { return slices.Contains(r.Roles, RoleAdmin) }

// Limit is the most r allows: its Ceiling, or the base ceiling of its
// roles when Ceiling is nil.
func (r Rights) Limit() []string {
	if r.Ceiling == nil {
		return BaseCeiling(r.Roles)
	}
	return r.Ceiling
}

// AppLimit is the most r allows an app that acts for the person (the
// authorization code flow and its refreshes): Limit without the system/
// scopes, which are a client's own access (SMART Backend Services), never
// a person's to delegate. The OWin grant, the person's own token, has
// Limit.
func (r Rights) AppLimit() []string {
	return slices.DeleteFunc(slices.Clone(r.Limit()), func(s string) bool {
		sc, err := smart.ParseScope(s)
		return err == nil && sc.Kind() == smart.KindResource && sc.Context() == smart.ContextSystem
	})
}

// ValidateCeiling checks a group's scope ceiling: each entry a SMART
// resource scope (patient/…, user/…, system/…); an error wraps
// ErrInvalidUser.
func ValidateCeiling(ceiling []string) error {
	for _, s := range ceiling {
		sc, err := smart.ParseScope(s)
		if err != nil {
			return fmt.Errorf("%w: ceiling: %w", ErrInvalidUser, err)
		}
		if sc.Kind() != smart.KindResource {
			return fmt.Errorf("%w: ceiling: %q is not a SMART resource scope", ErrInvalidUser, s)
		}
	}
	return nil
}
