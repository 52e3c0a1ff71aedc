"""End to end: a real browser (system Chromium via Playwright) signs in through a real OpenID provider
(panva/oidc-provider on loopback, tests/e2e/oidc) to the dashboard started with `csc-dashboard serve`.

Needs /usr/bin/chromium, node and `npm install` in tests/e2e/oidc. Without them the tests skip with the reason,
unless CSC_REQUIRE_E2E=1 (CI), where a missing part fails. Every wait is bounded. Screenshots of every page go to
test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers_app import T01, make_warehouse

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
OIDC_DIR = ROOT / "tests" / "e2e" / "oidc"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CSC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-gpu",
                 "--disable-quic", "--no-first-run"]
CLIENT_ID, CLIENT_SECRET = "csc-dashboard-e2e", "e2e-secret-not-for-production"
WAIT_MS = 60_000


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (Debian package 'chromium')"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        return f"oidc-provider is not installed: run `npm install` in {OIDC_DIR}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


@pytest.fixture(scope="module", autouse=True)
def _needs_browser_and_provider():
    reason = _missing()
    if reason:
        if os.environ.get("CSC_REQUIRE_E2E") == "1":
            pytest.fail(f"CSC_REQUIRE_E2E=1 but {reason}")
        pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, expect: str | None, seconds: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                body = r.read().decode()
                if expect is None or body.strip() == expect:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {seconds}s: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()        # `serve` passes SIGTERM on to Streamlit
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    d = tmp_path_factory.mktemp("e2e")
    wh = make_warehouse(d / "warehouse.duckdb")
    st_port, op_port = _free_port(), _free_port()
    app_url = f"http://localhost:{st_port}"
    op_log, st_log = d / "oidc.log", d / "streamlit.log"
    op_env = {**os.environ, "OIDC_PORT": str(op_port), "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
              "OIDC_REDIRECT_URI": f"{app_url}/oauth2callback"}
    logs = [op_log.open("w"), st_log.open("w")]
    op = subprocess.Popen(["node", "provider.js"], cwd=OIDC_DIR, env=op_env, stdout=logs[0],
                          stderr=subprocess.STDOUT)
    procs = [op]
    try:
        _wait_http(f"http://127.0.0.1:{op_port}/.well-known/openid-configuration", None, 30, op, op_log)
        secrets = d / "secrets.toml"
        secrets.write_text(
            "[auth]\n"
            f'redirect_uri = "{app_url}/oauth2callback"\n'
            'cookie_secret = "e2e-cookie-secret-0123456789abcdef"\n'
            "[auth.council]\n"
            f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
            f'server_metadata_url = "http://127.0.0.1:{op_port}/.well-known/openid-configuration"\n'
            'client_kwargs = { scope = "openid email profile roles", prompt = "login" }\n')
        st_env = {**os.environ, "CSC_PSEUDONYM_KEY_PLANNING": "e2e-only-planning-key-0123456789"}
        st_env.pop("CSC_DEMO", None)
        cmd = [sys.executable, "-m", "dashboard", "--warehouse", str(wh), "--audit", str(d / "audit.duckdb"),
               "serve", "--port", str(st_port), "--address", "localhost", "--secrets", str(secrets)]
        st = subprocess.Popen(cmd, cwd=d, env=st_env, stdout=logs[1], stderr=subprocess.STDOUT,
                              start_new_session=True)
        procs.append(st)
        _wait_http(f"{app_url}/_stcore/health", "ok", 90, st, st_log)
        yield {"app": app_url, "op": f"http://127.0.0.1:{op_port}", "audit": d / "audit.duckdb", "logs": d}
    finally:
        for p in reversed(procs):
            _stop(p)
        for f in logs:
            f.close()
    # stopping `serve` must stop the Streamlit server it started: nothing may keep serving afterwards
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{app_url}/_stcore/health", timeout=1).close()
        except OSError:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the Streamlit server kept running after `csc-dashboard serve` was stopped")


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def settle(page) -> None:
    """Wait until Streamlit has finished running the script (bounded)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=WAIT_MS)
    deadline = time.monotonic() + WAIT_MS / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            page.locator('[data-testid="stSkeleton"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.5:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the page did not finish running within the time allowed")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"e2e-{name}.png"), full_page=True)


def sign_in(page, app_url: str, login: str) -> None:
    page.goto(app_url, timeout=WAIT_MS)
    settle(page)
    page.get_by_role("button", name="Sign in with council").click(timeout=WAIT_MS)
    page.wait_for_url(re.compile(r".*/interaction/.*"), timeout=WAIT_MS)
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password: the dev provider accepts it")
    page.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(rf"^{re.escape(app_url)}/?.*"), timeout=WAIT_MS)
    settle(page)


def sign_out(page, app_url: str) -> None:
    page.get_by_role("button", name="Sign out").click(timeout=WAIT_MS)
    signed_in_again = page.get_by_role("button", name="Sign in with council")
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        if "/session/end" in page.url:
            # oidc-provider asks to confirm the end of its own session
            page.locator("button[autofocus], button[type=submit]").first.click(timeout=WAIT_MS)
            page.wait_for_url(re.compile(r".*/session/end/success.*|^" + re.escape(app_url) + ".*"),
                              timeout=WAIT_MS)
            break
        if page.url.startswith(app_url) and signed_in_again.count() and signed_in_again.is_visible():
            break
        page.wait_for_timeout(250)
    else:
        raise AssertionError(f"sign-out did not finish; at {page.url}")
    page.goto(app_url, timeout=WAIT_MS)
    settle(page)
    assert signed_in_again.is_visible()
    assert "@council.example" not in page.inner_text("body")


def visit(page, title: str, name: str) -> str:
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click(timeout=WAIT_MS)
    settle(page)
    shot(page, name)
    return page.inner_text("body")


def nav_titles(page) -> list[str]:
    # each link's text is its material icon name, then the title
    return [t.strip().splitlines()[-1].strip() for t in
            page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]


def test_service_manager_and_team_manager_in_a_real_browser(servers, chromium):
    app_url = servers["app"]
    ctx = chromium.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        # ---- service manager: report pages with numbers, no records, no governance pages
        sign_in(page, app_url, "sam")
        body = page.inner_text("body")
        assert "sam.manager@council.example" in body
        assert re.search(r"Children in need\s*\n\s*17\b", body), body[:2000]
        shot(page, "service_manager-overview")
        titles = nav_titles(page)
        assert titles[:6] == ["Overview", "Front door", "Child protection", "Looked after and stability",
                              "Interventions", "Equalities"]
        assert "Children" not in titles and "Access log" not in titles
        for title in titles[1:]:
            text = visit(page, title, f"service_manager-{title.lower().replace(' ', '_')}")
            assert "Given0" not in text
        # a forbidden page by URL: not in this person's navigation, so no record is shown
        page.goto(f"{app_url}/children", timeout=WAIT_MS)
        settle(page)
        text = page.inner_text("body")
        assert "Page not found" in text
        assert "Given0" not in text and "C001" not in text
        shot(page, "service_manager-children-refused")
        page.keyboard.press("Escape")
        sign_out(page, app_url)

        # ---- team manager: service management counts, then named records of team T01 under direct care
        sign_in(page, app_url, "tara")
        assert "tara.team@council.example" in page.inner_text("body")
        shot(page, "team_manager-overview")
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name=re.compile("direct care")).click()
        settle(page)
        # one page only (Children) under direct care: Streamlit shows it without a navigation menu
        assert nav_titles(page) == []
        shot(page, "team_manager-children")
        text = page.inner_text("body")
        assert "Named records" in text
        assert "14 of 14 children shown" in text            # T01's C001..C014 (the grid itself is a canvas)
        # the grid's own unrecorded "Download as CSV" is switched off (client.disableDataExport)
        assert page.get_by_role("button", name="Download as CSV").count() == 0
        # the CSV download holds exactly the list shown, and is recorded in the audit trail before it leaves
        with page.expect_download(timeout=WAIT_MS) as dl:
            page.get_by_role("button", name="CSV", exact=True).click()
        rows = Path(dl.value.path()).read_text(encoding="utf-8-sig").splitlines()
        assert rows[0].startswith("Child ID,Given name,Family name")
        assert sorted(r.split(",")[0] for r in rows[1:]) == T01 and "Given001" in rows[1]
        from dashboard.audit import AuditTrail, reports

        exports = reports.search(AuditTrail(servers["audit"]), user="tara.team@council.example", path="export:csv")
        assert exports.height == 1 and sorted(exports["child_ids"][0]) == T01
        page.get_by_placeholder("Child ID, name, team ...").fill("C015")
        page.keyboard.press("Enter")
        settle(page)
        assert "0 of 14 children shown" in page.inner_text("body")   # T02's child is outside the scope
        sign_out(page, app_url)
    finally:
        ctx.close()


def test_governance_and_analyst_pages_in_a_real_browser(servers, chromium):
    app_url = servers["app"]
    ctx = chromium.new_context(viewport={"width": 1440, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    try:
        sign_in(page, app_url, "ian")
        titles = nav_titles(page)
        for title in ("Access log", "Subject access", "Emergency access review", "Unusual activity",
                      "Policy explorer", "Data quality"):
            assert title in titles
            visit(page, title, f"ig_officer-{title.lower().replace(' ', '_')}")
        sign_out(page, app_url)

        sign_in(page, app_url, "bea")
        assert "Children" in nav_titles(page)
        text = visit(page, "Children", "bi_analyst-children")
        assert "Given0" not in text and "C001" not in text   # keyed pseudonyms, no names
        sign_out(page, app_url)
    finally:
        ctx.close()
