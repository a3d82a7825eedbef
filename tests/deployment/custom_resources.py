"""Schemas for the custom resources the manifests use, which kubernetes-validate does not know.

Written from the KEDA documentation (keda.sh, ScaledObject spec and the Kafka scaler) for the fields
these manifests may use; strict, so a misspelled or unknown field is an error rather than ignored."""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253}
_COUNT = {"type": "integer", "minimum": 0}
_SECONDS = {"type": "integer", "minimum": 1}
_BOOLEAN_TEXT = {"type": "string", "enum": ["true", "false"]}
_INTEGER_TEXT = {"type": "string", "pattern": r"^[0-9]+$"}

KAFKA_TRIGGER_METADATA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bootstrapServers", "consumerGroup", "topic"],
    "properties": {
        "bootstrapServers": {"type": "string", "minLength": 1},
        "consumerGroup": {"type": "string", "minLength": 1},
        "topic": {"type": "string", "minLength": 1},
        "lagThreshold": _INTEGER_TEXT,
        "activationLagThreshold": _INTEGER_TEXT,
        "offsetResetPolicy": {"type": "string", "enum": ["earliest", "latest"]},
        "allowIdleConsumers": _BOOLEAN_TEXT,
        "scaleToZeroOnInvalidOffset": _BOOLEAN_TEXT,
        "excludePersistentLag": _BOOLEAN_TEXT,
        "limitToPartitionsWithLag": _BOOLEAN_TEXT,
        "partitionLimitation": {"type": "string"},
        "sasl": {"type": "string", "enum": ["none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer"]},
        "tls": {"type": "string", "enum": ["enable", "disable"]},
        "version": {"type": "string"},
    },
}

SCALED_OBJECT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": _NAME,
                "namespace": _NAME,
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": _NAME,
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": _SECONDS,
                "cooldownPeriod": _SECONDS,
                "initialCooldownPeriod": _COUNT,
                "idleReplicaCount": _COUNT,
                "minReplicaCount": _COUNT,
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "kafka"},
                            "name": {"type": "string"},
                            "metadata": KAFKA_TRIGGER_METADATA,
                            "authenticationRef": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name"],
                                "properties": {
                                    "name": _NAME,
                                    "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT}
"""(apiVersion, kind) of each custom resource the manifests may render, and its schema."""
