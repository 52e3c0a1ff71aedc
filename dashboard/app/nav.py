"""Which pages a principal gets. The same rule builds the navigation (main.py) and guards each page (guard.py).

A page is offered only when the acting principal's grant can answer it:
- report pages need a grant with a small-number rule-set (aggregate answers over the whole authority);
- the children drill-down needs a row-level tier (identifiable within a relationship, or pseudonymised);
- the workbench needs the pseudonymised tier;
- the information-governance pages need the ig_officer role (acting under its audit purpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent
#: Page scripts live in views/, NOT in pages/: when a folder named pages/ sits beside the main script, Streamlit
#: runs a process's first request in its old multipage mode, where every file in pages/ can be opened directly
#: by URL without main.py (so without the navigation built per role).
PAGES_DIR = APP_DIR / "views"
LEGACY_PAGES_DIR = APP_DIR / "pages"


@dataclass(frozen=True)
class PageDef:
    key: str
    title: str
    file: str
    icon: str
    section: str
    needs: str  # report | rows | pseudonymised | ig

    @property
    def path(self) -> Path:
        p = PAGES_DIR / self.file
        if not p.exists() and (LEGACY_PAGES_DIR / self.file).exists():
            return LEGACY_PAGES_DIR / self.file  # the workbench may still live in pages/
        return p


PAGES: tuple[PageDef, ...] = (
    PageDef("overview", "Overview", "overview.py", ":material/dashboard:", "Reports", "report"),
    PageDef("front_door", "Front door", "front_door.py", ":material/door_front:", "Reports", "report"),
    PageDef("child_protection", "Child protection", "child_protection.py", ":material/shield:", "Reports", "report"),
    PageDef("looked_after", "Looked after and stability", "looked_after.py", ":material/home:", "Reports", "report"),
    PageDef("interventions", "Interventions", "interventions.py", ":material/alt_route:", "Reports", "report"),
    PageDef("equalities", "Equalities", "equalities.py", ":material/diversity_3:", "Reports", "report"),
    PageDef("children", "Children", "children.py", ":material/person_search:", "Records", "rows"),
    PageDef("workbench", "SQL workbench", "workbench.py", ":material/terminal:", "Records", "pseudonymised"),
    PageDef("ig_access_log", "Access log", "ig_access_log.py", ":material/receipt_long:", "Governance", "ig"),
    PageDef("ig_subject_access", "Subject access", "ig_subject_access.py", ":material/badge:", "Governance", "ig"),
    PageDef("ig_emergency", "Emergency access review", "ig_emergency.py", ":material/emergency:", "Governance",
            "ig"),
    PageDef("ig_unusual", "Unusual activity", "ig_unusual.py", ":material/troubleshoot:", "Governance", "ig"),
    PageDef("ig_policy", "Policy explorer", "ig_policy.py", ":material/policy:", "Governance", "ig"),
    PageDef("ig_data_quality", "Data quality", "ig_data_quality.py", ":material/fact_check:", "Governance", "ig"),
)
BY_KEY = {p.key: p for p in PAGES}


def grant_of(policy, principal):
    """The principal's grant (role x purpose), or None: an unknown role or purpose gets no page at all."""
    role = policy.roles.get(principal.role)
    if role is None:
        return None
    return role.grants.get(principal.purpose)


def allowed(policy, principal, page: PageDef) -> bool:
    if principal is None:
        return False
    grant = grant_of(policy, principal)
    if grant is None:
        return False
    if page.needs == "report":
        return grant.ruleset is not None
    if page.needs == "rows":
        return grant.tier in ("identifiable", "pseudonymised")
    if page.needs == "pseudonymised":
        return grant.tier == "pseudonymised"
    if page.needs == "ig":
        return principal.role == "ig_officer" and principal.purpose == "audit"
    return False  # an unknown requirement opens nothing


def pages_for(policy, principal) -> list[PageDef]:
    return [p for p in PAGES if allowed(policy, principal, p) and p.path.exists()]
