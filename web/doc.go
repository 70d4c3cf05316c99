// Package web serves smartgate's server-rendered pages: log-in, patient picker, consent, log-out and administration, with sessions and CSRF protection.
package web
