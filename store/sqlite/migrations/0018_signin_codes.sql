-- Issue 12: administrator-issued sign-in codes, kept as SHA-256 hashes.
-- Reserved by the contract; the store helper writes the table.
SELECT 1;
