// Package idp defines the identity-provider capabilities (password log-in, redirect/callback log-in) and the Identity they return; one sub-package per provider.
package idp
