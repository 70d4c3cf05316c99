package web

import (
	"context"

	"github.com/smartgate/smartgate/account"
)

// Pages of the second factor in the log-in.
const (
	// SecondFactorPath asks for the code after the password.
	SecondFactorPath = "/login/second-factor"
	// EnrolPath is the forced enrolment of an account that must have a
	// second factor and has none.
	EnrolPath = "/login/enrol"
)

// factorStep is how far a session of u with methods amr has got
// (sessionStep): stateDone, stateSecondFactor or stateEnrol.
func (s *Server) factorStep(ctx context.Context, u *account.User, amr []string) (state, error) {
	return stateDone, nil
}
