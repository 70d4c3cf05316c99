-- FHIR R4 resources: the current version of each resource, every version
-- (history, including deletes), the search index and the Patient
-- compartment memberships (filled at write time by package fhir/search).
CREATE TABLE fhir_resources (
	rid INTEGER PRIMARY KEY,          -- row number; search paging key
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	version INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,    -- Unix milliseconds
	deleted INTEGER NOT NULL DEFAULT 0,
	json BLOB,                        -- served as-is; NULL when deleted
	UNIQUE (type, id)
);

CREATE TABLE fhir_history (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	type TEXT NOT NULL,
	id TEXT NOT NULL,
	version INTEGER NOT NULL,
	last_updated INTEGER NOT NULL,
	method TEXT NOT NULL,             -- POST, PUT, DELETE
	deleted INTEGER NOT NULL DEFAULT 0,
	json BLOB,
	UNIQUE (type, id, version)
);
CREATE INDEX fhir_history_type ON fhir_history(type, seq);
CREATE INDEX fhir_history_time ON fhir_history(last_updated);

-- One row per index value. Which columns are set depends on the
-- parameter type: token (sys, code, text), string (code = exact value,
-- text = normalised), reference (code = as written, ref_type, ref_id),
-- date (lo, hi in Unix ms), number and quantity (lo = hi = value; quantity
-- sys, code and unit in text), uri (code). Unused columns are NULL, so that
-- each row enters only the partial indexes of its kind; queries name the
-- "IS NOT NULL" term of the index they need.
CREATE TABLE fhir_index (
	rid INTEGER NOT NULL REFERENCES fhir_resources(rid) ON DELETE CASCADE,
	type TEXT NOT NULL,
	param TEXT NOT NULL,
	sys TEXT NOT NULL DEFAULT '',
	code TEXT,
	text TEXT,
	lo REAL,
	hi REAL,
	ref_type TEXT,
	ref_id TEXT
);
CREATE INDEX fhir_index_rid ON fhir_index(rid, param);
CREATE INDEX fhir_index_code ON fhir_index(type, param, code, sys) WHERE code IS NOT NULL;
CREATE INDEX fhir_index_text ON fhir_index(type, param, text) WHERE text IS NOT NULL;
CREATE INDEX fhir_index_ref ON fhir_index(ref_id, ref_type, param, type) WHERE ref_id IS NOT NULL;
CREATE INDEX fhir_index_range ON fhir_index(type, param, lo, hi) WHERE lo IS NOT NULL;

-- Patient compartment: restricting any search to one patient is one join.
CREATE TABLE fhir_compartment (
	patient_id TEXT NOT NULL,
	rid INTEGER NOT NULL REFERENCES fhir_resources(rid) ON DELETE CASCADE,
	PRIMARY KEY (patient_id, rid)
) WITHOUT ROWID;
CREATE INDEX fhir_compartment_rid ON fhir_compartment(rid);
