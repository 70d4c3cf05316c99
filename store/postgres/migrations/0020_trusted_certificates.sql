-- Issue 13: the administrators' allow-list of client certificates that
-- the HTTPS listener trusts beside --client-ca, keyed by the hex SHA-256
-- fingerprint of the certificate's DER. The certificate itself is kept
-- (PEM) so that the page can show it and its validity is checked per
-- request. Times are BIGINT Unix microseconds (see 0001).
CREATE TABLE trusted_certificates (
	fingerprint TEXT PRIMARY KEY,
	subject     TEXT NOT NULL DEFAULT '',
	issuer      TEXT NOT NULL DEFAULT '',
	not_before  BIGINT NOT NULL,
	not_after   BIGINT NOT NULL,
	pem         TEXT NOT NULL,
	note        TEXT NOT NULL DEFAULT '',
	added_by    TEXT NOT NULL DEFAULT '',
	added_at    BIGINT NOT NULL
);
