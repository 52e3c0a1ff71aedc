"""The policy gate: who may see what (see docs/architecture.md, "The gate", and docs/privacy-model.md)."""

from dashboard.policy.gate import AuditUnavailable, Gate, Hidden, ProtectedResult, Refusal, ResultColumn
from dashboard.policy.identity import Principal, persona_principals, principals_from_claims
from dashboard.policy.model import Policy, PolicyError, load_policy

__all__ = [
    "AuditUnavailable", "Gate", "Hidden", "Policy", "PolicyError", "Principal", "ProtectedResult", "Refusal", "ResultColumn",
    "load_policy", "persona_principals", "principals_from_claims",
]
