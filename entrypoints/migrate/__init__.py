"""`cruncan migrate`: brings the database to the schema this release knows."""
