-- Issue 12: links of federated identities (issuer, subject) to accounts.
-- Reserved by the contract; the store helper writes the table.
SELECT 1;
