"""Page figures for `csc-dashboard bench`: which gate calls each report page makes, and how long a page takes.

Each report page is run in Streamlit's AppTest as a service manager, with the gate's `query_many` wrapped to
note every (measure, parameters) it asks; the benchmark then replays those calls against a gate of its own. The
AppTest time (script run, every gate call, every chart built: request to rendered page) is reported beside it,
once with the protected-cube store emptied first and once after the store's warm-up.
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


def page_calls(warehouse: Path) -> list[tuple[str, str, str, list[tuple[str, dict]], float, float]]:
    """(page, role, purpose, gate calls, first-run AppTest seconds with the store empty, AppTest seconds after
    warm-up) for every report page. The store is emptied before each first run, so no page profits from another."""
    from streamlit.testing.v1 import AppTest

    from dashboard.policy.gate import Gate

    calls: list[tuple[str, dict]] = []
    gates: list[Gate] = []
    original_many, original_open = Gate.query_many, Gate.__dict__["open"]   # the classmethod object itself

    def noting_many(self, p, wanted, *args, **kw):
        calls.extend((name, dict(params or {})) for name, params in wanted)
        return original_many(self, p, wanted, *args, **kw)

    def opening(cls, *args, **kw):
        kw.setdefault("persist", False)   # "cold" means nothing kept: not even cubes on disk from an earlier run
        g = original_open.__func__(cls, *args, **kw)
        gates.append(g)
        return g

    def run_page(page) -> float:
        at = AppTest.from_file(main, default_timeout=600)
        at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback",
                              "cookie_secret": "bench-only-cookie-secret",
                              "bench": {"client_id": "x", "client_secret": "y",
                                        "server_metadata_url": "http://127.0.0.1:9/.well-known/x"}}
        at.user = {**CLAIMS, "exp": time.time() + 3600}
        at.run()
        calls.clear()
        for g in gates:
            if cold:
                g.clear_store()
        t0 = time.perf_counter()
        at.switch_page(str(page.path.relative_to(nav.APP_DIR))).run()
        return time.perf_counter() - t0

    out = []
    main = str(nav.APP_DIR / "main.py")
    pages = [p for p in nav.PAGES if p.needs == "report"]
    with tempfile.TemporaryDirectory(prefix="csc-pagebench-") as tmp, _env(
        CSC_WAREHOUSE=str(warehouse), CSC_AUDIT=str(Path(tmp) / "audit.duckdb"), CSC_DEMO="0", CSC_WARM_UP="0",
    ):
        # query() goes through query_many(), so wrapping query_many notes every call a page makes
        Gate.query_many = noting_many
        Gate.open = classmethod(opening)
        try:
            cold = True
            firsts = {}
            for page in pages:
                firsts[page.key] = (run_page(page), list(calls))
            for g in gates:
                g.warm_up()
            cold = False
            for page in pages:
                seconds, noted = firsts[page.key]
                out.append((page.key, ROLE, PURPOSE, noted, seconds, run_page(page)))
        finally:
            Gate.query_many, Gate.open = original_many, original_open
            from dashboard.app import session

            # let go of the throw-away trail before its directory is removed (its idle watcher would otherwise
            # write the confirming head into a directory being deleted), and drop the app's cached gate on it
            session._open_gate.clear()
            for g in gates:
                g.trail.close()
                g.close()
    return out
