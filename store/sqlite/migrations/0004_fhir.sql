-- Reserved for the fhir schema; filled in by its work item.
SELECT 1;
