package scim

import (
	"net/http"
)

func (s *Server) patchUser(q *request) error {
	return errorf(http.StatusNotImplemented, "", "PATCH is not built yet")
}

func (s *Server) patchGroup(q *request) error {
	return errorf(http.StatusNotImplemented, "", "PATCH is not built yet")
}
