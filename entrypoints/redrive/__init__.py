"""`cruncan redrive`."""
