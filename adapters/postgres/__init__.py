"""Postgres adapters on peewee over psycopg2."""
