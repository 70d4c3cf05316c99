// Package scim is smartgate's SCIM 2.0 server (RFC 7643/7644) for local accounts.
package scim
