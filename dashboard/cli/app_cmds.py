"""`csc-dashboard serve`: run the Streamlit dashboard on the warehouse, with hardened settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from secrets import token_urlsafe
from typing import Annotated

import typer

from dashboard.config import PROJECT_ROOT, SAMPLE_DATA_DIR, Settings, data_dir

APP_MAIN = PROJECT_ROOT / "dashboard" / "app" / "main.py"

#: Settings passed on the command line as well as in .streamlit/config.toml, because Streamlit reads the
#: config file only from its working directory: the hardening must not depend on where serve is run from.
HARDENED = {
    "server.headless": "true",
    # tracebacks can carry SQL, paths and values: users get a generic message only
    "client.showErrorDetails": "none",
    # no rerun / clear-cache / deploy for viewers
    "client.toolbarMode": "viewer",
    # the grid's own CSV download would skip the audit record and formula escaping of our export buttons
    "client.disableDataExport": "true",
    "browser.gatherUsageStats": "false",
    # a non-browser client must not be able to drive the app
    "server.enableAgentApi": "false",
    "server.enableXsrfProtection": "true",
    "server.enableStaticServing": "false",
    "server.runOnSave": "false",
    "server.fileWatcherType": "none",
    "runner.magicEnabled": "false",
}


def streamlit_command(port: int, address: str, secrets: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP_MAIN),
           "--server.port", str(port), "--server.address", address]
    for key, value in HARDENED.items():
        cmd += [f"--{key}", value]
    if secrets is not None:
        cmd += ["--secrets.files", str(secrets)]
    return cmd


def ensure_demo_pseudonym_key(env: dict[str, str], directory: Path | None = None) -> Path | None:
    """Demo mode only: when no pseudonym key is configured, point CSC_PSEUDONYM_KEY_FILE at a file of random
    per-purpose keys under the data directory (created once, mode 0600, never in the repository).

    Returns the file when this call created it, None when a key was already configured or the file existed.
    """
    from dashboard.policy.model import load_policy
    from dashboard.policy.pseudonym import KEY_ENV_PREFIX, KEY_FILE_ENV

    if env.get(KEY_FILE_ENV) or any(k.startswith(KEY_ENV_PREFIX) and v for k, v in env.items()):
        return None
    path = (directory or data_dir()) / "demo-pseudonym-keys.toml"
    env[KEY_FILE_ENV] = str(path)
    if path.exists():
        return None
    purposes = load_policy().purposes
    path.parent.mkdir(parents=True, exist_ok=True)
    # One random key per purpose, so two releases made for different purposes cannot be joined.
    text = "".join(f'{name} = "{token_urlsafe(32)}"\n' for name in purposes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# Demo-only pseudonym keys made by `csc-dashboard serve --demo`. Not for real data.\n" + text)
    return path


def run_until_stopped(child: subprocess.Popen) -> int:
    """Wait for Streamlit; pass a stop signal (systemd's SIGTERM, Ctrl+C) on to it, so no orphaned server keeps
    serving data after `serve` has been told to stop."""

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                continue
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    # Streamlit exits 0 on SIGTERM/SIGINT; a negative code means it was killed by a signal
    return 0 if code in (0, -signal.SIGTERM, -signal.SIGINT) else code


def start_disk_warm_up(settings: Settings):
    """The warm-up in this process, started now (before the first page is asked for), protecting every cube the
    pages offer into the store beside the warehouse, which the app's gate reads (2-10 ms a cube instead of up to
    half a second). Returns the gate doing it, or None when cubes cannot be kept on disk (the app then warms its
    own memory, as before)."""
    from dashboard.policy import Gate

    try:
        g = Gate.open(settings)
    except Exception:  # noqa: BLE001 - the app opens the warehouse itself and says what is wrong
        return None
    if g.disk_store is None:
        g.close()
        return None
    g.start_warm_up()
    return g


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        ctx: typer.Context,
        demo: Annotated[bool, typer.Option(
            "--demo", help="Offer demo personas instead of sign-in (only when no [auth] is configured).")] = False,
        port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8501,
        address: Annotated[str, typer.Option(
            "--address", help="Address to listen on (default loopback; put HTTPS in front for anything else).")]
        = "127.0.0.1",
        secrets: Annotated[Path | None, typer.Option(
            "--secrets", help="A secrets.toml to use (sign-in settings), instead of .streamlit/secrets.toml.",
            exists=True, dir_okay=False, readable=True)] = None,
        warm_up: Annotated[bool, typer.Option(
            "--warm-up/--no-warm-up", help="Protect every page's measures in the background from the moment the "
            "server starts, kept beside the warehouse, so pages never wait for protection (no audit record until "
            "someone is shown one).")] = True,
    ) -> None:
        """Start the dashboard (Streamlit) on the warehouse, building it from sample_data/ if missing."""
        from dashboard.cli import fail

        settings: Settings = ctx.obj
        from dashboard.warehouse.db import is_current

        # in demo mode an out-of-date warehouse (built by an earlier version) is rebuilt from the sample data
        stale = demo and settings.warehouse.exists() and not is_current(settings.warehouse)
        if stale or not settings.warehouse.exists():
            if not SAMPLE_DATA_DIR.exists():
                raise fail(f"no warehouse at {settings.warehouse} and no sample_data/ to build it from; "
                           "run `csc-dashboard build` first")
            what = "An out-of-date warehouse" if stale else "No warehouse"
            typer.echo(f"{what} at {settings.warehouse}: building it from {SAMPLE_DATA_DIR} ...", err=True)
            from dashboard.warehouse.build import build
            from dashboard.warehouse.dq import BuildError

            try:
                build([SAMPLE_DATA_DIR], settings.warehouse, progress=True)
            except (OSError, ValueError, BuildError) as e:
                raise fail(f"could not build the warehouse: {e}") from None

        env = dict(os.environ)
        env["CSC_WAREHOUSE"] = str(settings.warehouse.resolve())
        env["CSC_AUDIT"] = str(settings.audit.resolve())
        # Demo personas are switched on only by this flag, never by an inherited environment variable.
        env.pop("CSC_DEMO", None)
        env.pop("CSC_WARM_UP", None)
        warmer = start_disk_warm_up(settings) if warm_up else None
        if warm_up and warmer is None:
            env["CSC_WARM_UP"] = "1"    # cubes cannot be kept on disk: the app warms its own memory instead
        if demo:
            env["CSC_DEMO"] = "1"
            try:
                created = ensure_demo_pseudonym_key(env)
            except (OSError, ValueError) as e:  # PolicyError is a ValueError
                raise fail(f"could not prepare a demo pseudonym key: {e}") from None
            if created is not None:
                typer.echo(f"Demo mode: no pseudonym key was configured, so a random one was created at {created} "
                           "(for demonstration only; keep real keys outside the repository).", err=True)
            typer.echo("Demo mode: personas are offered only while no [auth] sign-in is configured.", err=True)
        typer.echo(f"Dashboard on http://{address}:{port}  (Ctrl+C to stop)", err=True)
        try:
            try:
                child = subprocess.Popen(streamlit_command(port, address, secrets), env=env, cwd=str(PROJECT_ROOT))
            except OSError as e:
                raise fail(f"could not start Streamlit: {e}") from None
            code = run_until_stopped(child)
        finally:
            if warmer is not None:
                warmer.close()          # stops between two cubes
        if code:
            raise typer.Exit(code)
