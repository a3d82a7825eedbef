"""Offline checks of the deployment files (Compose, Dockerfile, observability stack, Kubernetes): no engine runs them,
so each test parses them and checks them against the code and settings they depend on."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
