-- Reserved for the smart schema; filled in by its work item.
SELECT 1;
