-- Reserved for the accounts schema; filled in by its work item.
SELECT 1;
