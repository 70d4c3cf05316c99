-- Issue 10: FHIR paging cursors are opaque to package fhir (this backend
-- encodes rid and seq numbers in them; no table change needed for that),
-- and the history of one resource is read through its own index: the
-- listing (type = ? AND id = ? AND seq < ? ORDER BY seq DESC) was a walk
-- back through every version of the type on fhir_history_type.
CREATE INDEX fhir_history_instance ON fhir_history(type, id, seq);
