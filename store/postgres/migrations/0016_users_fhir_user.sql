-- Issue 11: a Patient fhirUser links one account only (account.People
-- looks for another holder with a smartgate.fhirUser filter before linking);
-- the index keeps that lookup from scanning every person.
CREATE INDEX users_fhir_user ON users(fhir_user);
