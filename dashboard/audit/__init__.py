"""The audit trail: every decision of the policy gate, hash-chained, and the IG officer's reports on it.

See docs/audit.md. Never imports streamlit or dashboard.policy.
"""

from dashboard.audit.trail import AuditError, AuditTrail, VerifyResult

__all__ = ["AuditError", "AuditTrail", "VerifyResult"]
