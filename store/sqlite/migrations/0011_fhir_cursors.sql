-- Reserved for issue 10 (0011_fhir_cursors); filled in by the branch that owns it.
SELECT 1;
