"""Page figures for `csc-dashboard bench`: which gate calls each report page makes, and how long a page takes.

Each report page is run once in Streamlit's AppTest as a service manager, with the gate's `query` wrapped to
note every (measure, parameters) it asks; the benchmark then replays those calls against a gate with its cache
off. The AppTest time (script run, every gate call, every chart built) is reported beside it.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dashboard.app import nav

ROLE, PURPOSE = "service_manager", "service_management"
CLAIMS = {"is_logged_in": True, "email": "bench@council.example", "name": "Bench", "roles": ["CSC.ServiceManager"]}


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def page_calls(warehouse: Path) -> list[tuple[str, str, str, list[tuple[str, dict]], float]]:
    """(page, role, purpose, gate calls, AppTest seconds) for every report page."""
    from streamlit.testing.v1 import AppTest

    from dashboard.policy.gate import Gate

    calls: list[tuple[str, dict]] = []
    original = Gate.query

    def noting(self, p, name, params=None, *args, **kw):
        calls.append((name, dict(params or {})))
        return original(self, p, name, params, *args, **kw)

    out = []
    main = str(nav.APP_DIR / "main.py")
    with tempfile.TemporaryDirectory(prefix="csc-pagebench-") as tmp, _env(
        CSC_WAREHOUSE=str(warehouse), CSC_AUDIT=str(Path(tmp) / "audit.duckdb"), CSC_DEMO="0",
    ):
        Gate.query = noting
        try:
            for page in (p for p in nav.PAGES if p.needs == "report"):
                at = AppTest.from_file(main, default_timeout=600)
                at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                                      "cookie_secret": "bench-only-cookie-secret",
                                      "bench": {"client_id": "x", "client_secret": "y",
                                                "server_metadata_url": "http://127.0.0.1:9/.well-known/x"}}
                at.user = {**CLAIMS, "exp": time.time() + 3600}
                at.run()
                calls.clear()
                t0 = time.perf_counter()
                at.switch_page(str(page.path.relative_to(nav.APP_DIR))).run()
                seconds = time.perf_counter() - t0
                out.append((page.key, ROLE, PURPOSE, list(calls), seconds))
        finally:
            Gate.query = original
    return out
