"""Who is asking: principals, and how sign-in claims or demo personas map to the principals a user may act as."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dashboard.policy.model import Policy


@dataclass(frozen=True)
class Principal:
    """One person acting in one role under one purpose. Frozen: a page cannot widen it after sign-in."""

    user: str
    role: str
    teams: tuple[str, ...] = field(default=())
    purpose: str = ""
    worker_id: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.teams, str):
            object.__setattr__(self, "teams", (self.teams,))
        else:
            object.__setattr__(self, "teams", tuple(sorted(set(self.teams or ()))))

    def describe(self) -> dict[str, Any]:
        return {"user": self.user, "role": self.role, "teams": list(self.teams), "purpose": self.purpose,
                "worker_id": self.worker_id}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    return [str(value)]


def principals_for_role(policy: Policy, user: str, role: str, teams: Iterable[str] = (),
                        worker_id: str | None = None) -> list[Principal]:
    """One principal per purpose the role may act under (in the order roles.yml lists them)."""
    if role not in policy.roles:
        return []
    return [Principal(user, role, tuple(teams), purpose, worker_id) for purpose in policy.roles[role].grants]


def principals_from_claims(policy: Policy, claims: Mapping[str, Any]) -> list[Principal]:
    """The principals an ID token's claims allow. Unknown role or team claim values give nothing (fail closed)."""
    c = policy.claims
    user = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "").strip()
    if not user:
        return []
    role_map = c.get("roles") or {}
    team_map = c.get("teams") or {}
    roles = [role_map[v] for v in _as_list(claims.get(c["role_claim"])) if v in role_map]
    teams = sorted({team_map[v] for v in _as_list(claims.get(c.get("team_claim") or "teams")) if v in team_map})
    worker = claims.get(c.get("worker_claim") or "worker_id")
    out: list[Principal] = []
    for role in dict.fromkeys(roles):
        out.extend(principals_for_role(policy, user, role, teams, str(worker) if worker else None))
    return out


def persona_principals(policy: Policy, persona_id: str) -> list[Principal]:
    """Demo sign-in: the principals of a persona in personas.yml (empty when unknown)."""
    p = policy.personas.get(persona_id)
    if p is None:
        return []
    return principals_for_role(policy, p.id, p.role, p.teams, p.worker_id)
