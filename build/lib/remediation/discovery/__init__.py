"""Pure discovery and rewriting of gunicorn worker and Django DATABASES settings.

Public API: `audit_files(files, target, hints) -> AuditResult`, shared by `audit --path`
(local checkout) and `remediate` (files fetched over SSH).
"""

from remediation.discovery.model import AuditResult, Finding, Hints
from remediation.discovery.orchestrator import audit_files

__all__ = ["AuditResult", "Finding", "Hints", "audit_files"]
