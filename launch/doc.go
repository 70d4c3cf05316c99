// Package launch is smartgate's SMART EHR launch (App Launch IG 2.2
// app-launch.html#launch-app-ehr-launch): the /admin/launch page, where an
// administrator opens a registered app for a patient (and optionally an
// encounter), and the authz.LaunchResolver that turns the launch parameter
// back into that context at the authorization endpoint. The launch API
// (APIPath) makes the same launches over JSON for EHRs, for callers that
// hold authz.PrivilegeLaunchCreate.
//
// A launch value is 256 random bits in base64url (URL-safe, no padding;
// checklist C15); only its SHA-256 is stored. It is bound to one client,
// expires after Config.TTL (default 5 minutes) and yields at most one
// authorization code (ConsumeLaunch marks it used atomically; C14).
package launch
