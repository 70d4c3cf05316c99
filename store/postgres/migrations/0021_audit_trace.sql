-- Issue 15: a refused request's decision trace ("why was this refused?"),
-- kept with its audit record: JSON written by fhir/access.Explain, bounded
-- by audit.MaxTrace. Empty for every other record.
ALTER TABLE audit_events ADD COLUMN trace TEXT NOT NULL DEFAULT '';
