"""OpenTelemetry setup and the tracing and metrics decorators around ports."""
