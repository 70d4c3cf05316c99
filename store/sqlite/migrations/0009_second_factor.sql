-- Reserved for issue 10 (0009_second_factor); filled in by the branch that owns it.
SELECT 1;
