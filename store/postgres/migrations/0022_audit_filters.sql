-- Issue 15: the audit trail's filters (/fhir/AuditEvent, /admin/audit)
-- select by client, patient, resource and kind, newest first by id.
CREATE INDEX audit_events_client ON audit_events(client_id, id);
CREATE INDEX audit_events_patient ON audit_events(patient, id);
CREATE INDEX audit_events_resource ON audit_events(resource, id);
CREATE INDEX audit_events_kind ON audit_events(kind, id);
