-- Undoes 0004.submitted_by: who submitted each request is forgotten.
ALTER TABLE request DROP COLUMN submitted_by;
