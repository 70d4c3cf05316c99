package rowmap

import (
	"fmt"
	"strings"

	"github.com/smartgate/smartgate/account"
)

// ValidGroup checks a group before it is stored.
func ValidGroup(g *account.Group) error {
	if strings.TrimSpace(g.DisplayName) == "" {
		return fmt.Errorf("group %q has no displayName", g.ID)
	}
	for _, r := range g.Roles {
		if !account.ValidRole(r) {
			return fmt.Errorf("group %q: unknown role %q", g.DisplayName, r)
		}
	}
	for _, s := range g.Ceiling {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("group %q: ceiling scope %q is not one scope", g.DisplayName, s)
		}
	}
	return nil
}
