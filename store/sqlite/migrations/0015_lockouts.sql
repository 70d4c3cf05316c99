-- Reserved for issue 11; filled on its branch.
SELECT 1;
