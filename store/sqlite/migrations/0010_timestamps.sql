-- Reserved for issue 10 (0010_timestamps); filled in by the branch that owns it.
SELECT 1;
