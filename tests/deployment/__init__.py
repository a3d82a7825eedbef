"""Offline checks of the deployment files: Compose, Dockerfile and the observability stack."""
