"""The smoke check's driver (scripts/smoke): a real Home Assistant, driven like a user would.

Starts ``python -m homeassistant`` on a prepared config folder, creates the owner through
the onboarding API, probes a missing Zigbee port through the config flow (the radio
library is loaded then), adds a small virtual gateway through the config flow, switches a
light on and waits until the device confirms it (``sync: verified``), writes a snapshot
with the ``backup`` action and a response, stops Home Assistant, and fails on any error,
traceback, blocking call or deprecation warning in the log that names the integration or
its radio libraries.

    python -m scripts.smoke_check --config DIR --port PORT [--skip-pip]
    python -m scripts.smoke_check --scan-log LOG [--strict [--stopped-at BYTES]]
        (only the log check; --strict: any error fails, not only the integration's)

Runs in the Home Assistant venv under test; only the standard library is used here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

DOMAIN = "resilient_gateway"
MANIFEST = Path(__file__).parents[1] / "custom_components" / DOMAIN / "manifest.json"
CLIENT_ID = "http://127.0.0.1/"  # any URL: the onboarding API only echoes it into the code
NETWORK = "smoke"
MISSING_PORT = "/dev/serial/by-id/usb-smoke-check-no-such-stick"
LIGHTS = 3
START_TIMEOUT = 120.0
STEP_TIMEOUT = 60.0

# A log record starts with Home Assistant's timestamp; continuation lines (tracebacks,
# stack traces of blocking calls) belong to the record above them.
# (2026.11 adds the UTC offset to the timestamp.)
RECORD_START = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})? ([A-Z]+) "
)
PROBLEM = re.compile(r"Traceback|Detected blocking call|deprecat", re.IGNORECASE)


class SmokeFailure(Exception):
    """A step did not give what a user would expect."""


def step(text: str) -> None:
    print(f"--> {text}", flush=True)


# -- the log ---------------------------------------------------------------------------


def log_records(text: str) -> Iterator[tuple[str, str]]:
    """(level, whole record) for every record of a Home Assistant log."""
    level, lines = "", []  # type: str, list[str]
    for line in text.splitlines():
        if match := RECORD_START.match(line):
            if lines:
                yield level, "\n".join(lines)
            level, lines = match.group(1), [line]
        else:
            lines.append(line)
    if lines:
        yield level, "\n".join(lines)


def integration_names() -> list[str]:
    """Names that mark a record as the integration's: its domain and its libraries' loggers."""
    loggers = json.loads(MANIFEST.read_text())["loggers"]
    return [DOMAIN, *loggers]


def problems_in_log(text: str) -> tuple[list[str], list[str]]:
    """(the integration's problems, other errors) found in a Home Assistant log."""
    names = re.compile(r"\b(" + "|".join(map(re.escape, integration_names())) + r")\b")
    ours: list[str] = []
    others: list[str] = []
    for level, record in log_records(text):
        if level not in {"ERROR", "CRITICAL"} and not PROBLEM.search(record):
            continue
        (ours if names.search(record) else others).append(record)
    return ours, others


def shortened(record: str, keep: int = 4) -> str:
    """A record with a long stack cut to its first line and the innermost frames."""
    lines = record.splitlines()
    if len(lines) <= keep * 2 + 1:
        return record
    return "\n".join([lines[0], f"    … ({len(lines) - 1 - keep} lines)", *lines[-keep:]])


def report_log(path: Path, *, strict: bool = False, stopped_at: int | None = None) -> bool:
    """Print the log's problems; True when none is the integration's.

    strict: other integrations' problems fail too, except those logged once Home Assistant
    was told to stop (stopped_at: the log's size then), such as a set-up that was still
    retrying without internet access and was cancelled.
    """
    raw = path.read_bytes()
    running = raw if stopped_at is None else raw[:stopped_at]
    ours, others = problems_in_log(raw.decode(errors="replace"))
    _, others_running = problems_in_log(running.decode(errors="replace"))
    failing_others = set(others_running) if strict else set()
    for record in others:
        verdict = "FAIL" if record in failing_others else "note"
        print(f"{verdict}: not the integration's:\n{shortened(record)}\n", flush=True)
    for record in ours:
        print(f"FAIL: the integration's:\n{shortened(record)}\n", flush=True)
    if not ours and not others:
        print("    no errors, tracebacks, blocking calls or deprecation warnings", flush=True)
    return not ours and not failing_others


# -- the REST API -----------------------------------------------------------------------


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token: str | None = None

    def request(
        self, method: str, path: str, body: Any = None, *, form: bool = False
    ) -> tuple[int, Any]:
        headers = {}
        data = None
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None and form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=STEP_TIMEOUT) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ok(self, method: str, path: str, body: Any = None, *, form: bool = False) -> Any:
        status, answer = self.request(method, path, body, form=form)
        if not 200 <= status < 300:
            raise SmokeFailure(f"{method} {path} answered {status}: {answer}")
        return answer


def wait_until(what: str, check: Any, timeout: float, process: subprocess.Popen[bytes]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SmokeFailure(f"Home Assistant exited ({process.returncode}) while {what}")
        try:
            if result := check():
                return result
        except urllib.error.URLError, ConnectionError, TimeoutError:
            pass
        time.sleep(0.5)
    raise SmokeFailure(f"timed out after {timeout:.0f} s {what}")


def drive(api: Api, process: subprocess.Popen[bytes]) -> None:
    step("waiting for Home Assistant to answer")
    wait_until(
        "waiting for the HTTP server",
        lambda: api.request("GET", "/api/onboarding")[0] == 200,
        START_TIMEOUT,
        process,
    )

    step("creating the owner through onboarding and logging in")
    user = {"name": "Smoke", "username": "smoke", "password": "smoke-check-password"}
    code = api.ok(
        "POST", "/api/onboarding/users", {**user, "client_id": CLIENT_ID, "language": "en"}
    )["auth_code"]
    tokens = api.ok(
        "POST",
        "/auth/token",
        {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID},
        form=True,
    )
    api.token = tokens["access_token"]

    step("probing a Zigbee port that does not exist through the config flow")
    flow = api.ok("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    flow_path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    api.ok("POST", flow_path, {"next_step_id": "zigbee"})
    answer = api.ok("POST", flow_path, {"radio_library": "ezsp", "path": MISSING_PORT})
    if answer.get("type") != "form" or not answer.get("errors"):
        raise SmokeFailure(f"a missing port was not a form error: {answer}")
    print(f"    form error: {answer['errors']}")
    api.ok("DELETE", flow_path)

    step(f"adding a virtual gateway ({LIGHTS} lights) through the config flow")
    flow = api.ok("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    if flow.get("type") != "menu" or "virtual" not in flow.get("menu_options", []):
        raise SmokeFailure(f"the flow did not offer the virtual gateway: {flow}")
    flow_path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    form = api.ok("POST", flow_path, {"next_step_id": "virtual"})
    if form.get("type") != "form":
        raise SmokeFailure(f"the virtual step did not show a form: {form}")
    house = {
        "network": NETWORK,
        "lights": LIGHTS,
        "sensors": 0,
        "sleepy_sensors": 0,
        "loss": 0,
        "group_miss": 0,
        "seed": 1,
    }
    done = api.ok("POST", flow_path, house)
    if done.get("type") != "create_entry":
        raise SmokeFailure(f"the flow did not create the entry: {done}")
    entry_id = done["result"]["entry_id"]

    def entry_loaded() -> bool:
        entries = api.ok("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
        state = next(e["state"] for e in entries if e["entry_id"] == entry_id)
        if state in {"setup_error", "setup_retry", "failed_unload"}:
            raise SmokeFailure(f"the gateway did not set up: {state}")
        return bool(state == "loaded")

    wait_until("waiting for the gateway to load", entry_loaded, STEP_TIMEOUT, process)

    def our_lights() -> list[dict[str, Any]]:
        return [
            state
            for state in api.ok("GET", "/api/states")
            # (only this integration makes lights in the smoke's fresh configuration; a
            # light nobody commanded yet shows no ``sync``)
            if state["entity_id"].startswith("light.")
            and "members" not in state["attributes"]  # not the "All lights" group
            and state["state"] in {"on", "off"}
        ]

    lights = wait_until(
        f"waiting for {LIGHTS} lights to report their state",
        lambda: len(found := our_lights()) >= LIGHTS and found,
        STEP_TIMEOUT,
        process,
    )
    light = sorted(lights, key=lambda state: state["entity_id"])[0]["entity_id"]

    step(f"switching {light} on and waiting for sync: verified")
    api.ok("POST", "/api/services/light/turn_on", {"entity_id": light})

    def verified() -> dict[str, Any] | None:
        state = api.ok("GET", f"/api/states/{light}")
        sync = state["attributes"].get("sync")
        if sync == "failed":
            raise SmokeFailure(f"{light} reported sync: failed: {state}")
        return state if state["state"] == "on" and sync == "verified" else None

    shown = wait_until(f"waiting for {light} to be verified on", verified, STEP_TIMEOUT, process)
    print(f"    {light}: {shown['state']}, sync {shown['attributes']['sync']}")

    step("writing a snapshot with resilient_gateway.backup (with a response)")
    answer = api.ok(
        "POST",
        f"/api/services/{DOMAIN}/backup?return_response",
        {"config_entry_id": entry_id},
    )
    response = answer.get("service_response") if isinstance(answer, dict) else None
    if not isinstance(response, dict) or not response.get("path"):
        raise SmokeFailure(f"backup answered no snapshot path: {answer}")
    if response.get("device_count", 0) < LIGHTS:
        raise SmokeFailure(f"the snapshot holds fewer devices than the house: {response}")
    print(f"    {response['path']}: {response['device_count']} devices, {response['size']} B")


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def run(config: Path, port: int, skip_pip: bool) -> bool:
    if port_in_use(port):
        print(f"FAIL: port {port} is in use (another Home Assistant?): choose one with --port")
        return False
    log = config / "smoke.log"
    command = [sys.executable, "-m", "homeassistant", "--config", str(config)]
    if skip_pip:
        command.append("--skip-pip")
    env = {**os.environ, "SETUP_PORT": str(port)}
    step(f"starting Home Assistant on port {port} (log: {log})")
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    passed = False
    try:
        drive(Api(f"http://127.0.0.1:{port}"), process)
        passed = True
    except SmokeFailure as err:
        print(f"FAIL: {err}", flush=True)
    finally:
        step("stopping Home Assistant")
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    step("checking the log")
    clean = report_log(log)
    print("smoke: PASS" if passed and clean else "smoke: FAIL", flush=True)
    return passed and clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--port", type=int, default=18123)
    parser.add_argument("--skip-pip", action="store_true")
    parser.add_argument("--scan-log", type=Path)
    parser.add_argument("--strict", action="store_true", help="--scan-log: fail on any error")
    parser.add_argument("--stopped-at", type=int, help="--strict: the log's size at the stop")
    args = parser.parse_args()
    if args.scan_log:
        ok = report_log(args.scan_log, strict=args.strict, stopped_at=args.stopped_at)
        return 0 if ok else 1
    if args.config is None:
        parser.error("--config is required")
    return 0 if run(args.config, args.port, args.skip_pip) else 1


if __name__ == "__main__":
    sys.exit(main())
