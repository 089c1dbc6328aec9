-- No down file on purpose: the plan marks this migration IRREVERSIBLE.
ALTER TABLE orders ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';
