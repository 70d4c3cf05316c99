-- Issue 13: RFC 8705 client metadata. A tls_client_auth client names the
-- one subject DN or SAN its certificate carries (at most one of the five
-- is set); tls_client_certificate_bound_access_tokens binds its access
-- tokens to the certificate presented at the token endpoint.
ALTER TABLE oauth_clients ADD COLUMN tls_subject_dn TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN tls_san_dns TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN tls_san_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN tls_san_ip TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN tls_san_email TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_clients ADD COLUMN cert_bound_tokens BIGINT NOT NULL DEFAULT 0;
-- The certificate methods' clients, found by ClientsByCertificateAuth.
CREATE INDEX oauth_clients_cert_auth ON oauth_clients (token_endpoint_auth_method)
	WHERE token_endpoint_auth_method IN ('tls_client_auth', 'self_signed_tls_client_auth');
