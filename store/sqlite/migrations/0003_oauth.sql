-- Reserved for the oauth schema; filled in by its work item.
SELECT 1;
