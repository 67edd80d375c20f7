"""Shared fixtures for the cross-process tests: where the binaries are, free ports, and a
running platform started the way a newcomer starts it (`nkpay demo`)."""

import json
import os
import pathlib
import subprocess
import time
import urllib.parse
import uuid

import pytest
import requests

from ports import free_port  # noqa: F401 (the tests import it from here)

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN_DIR = pathlib.Path(os.environ.get("NKPAY_BIN_DIR", ROOT / "target" / "debug"))


def wait_for(predicate, timeout=60.0, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def postgres_database(tmp: pathlib.Path) -> str:
    """A new, empty PostgreSQL database on the test server (NKPAY_TEST_DATABASE_URL)."""
    server = os.environ["NKPAY_TEST_DATABASE_URL"]
    name = "nkpay_e2e_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", server, "-q", "-c", f"CREATE DATABASE {name}"], check=True)
    parts = urllib.parse.urlsplit(server)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def drop_database(url: str) -> None:
    """Drops a database `postgres_database` made (`url` names it), ending any connection a
    process of the test still holds to it: nothing stays behind on the test server."""
    server = os.environ["NKPAY_TEST_DATABASE_URL"]
    name = urllib.parse.urlsplit(url).path.lstrip("/")
    assert name.startswith("nkpay_e2e_"), name
    subprocess.run(["psql", server, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)


def pay_at_sandbox(sandbox_url: str, trade_type: str, created: dict, timeout=30):
    """The payer pays a created trade (`created`: the jspay reply) at the simulators' payer
    endpoint: the WeChat `prepay_id` of `pay_info`, or the Alipay `qr_code` scanned and paid."""
    if trade_type == "T_JSAPI":
        prepay_id = json.loads(created["pay_info"])["package"].removeprefix("prepay_id=")
        path, body = "/sandbox/wechat/pay", {"prepay_id": prepay_id, "result": "SUCCESS"}
    else:
        path, body = "/sandbox/alipay/pay", {"qr_code": created["qr_code"], "buyer_id": "2088102100000001"}
    r = requests.post(f"{sandbox_url}{path}", json=body, timeout=timeout)
    assert r.status_code == 200, r.text


class Platform:
    """A `nkpay demo` process with its credentials."""

    def __init__(self, proc, credentials, log_path):
        self.proc = proc
        self.credentials = credentials
        self.log_path = log_path
        self.base_url = credentials["base_url"]
        self.sandbox_url = credentials["sandbox_url"]

    def log(self) -> str:
        return pathlib.Path(self.log_path).read_text(errors="replace")


def start_demo(tmp: pathlib.Path, extra_env=None) -> Platform:
    port, sandbox_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        {
            "NKPAY__SERVER__PORT": str(port),
            "NKPAY__SERVER__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "NKPAY__SANDBOX__PORT": str(sandbox_port),
            "NKPAY__DATABASE__URL": f"sqlite://{tmp}/nkpay.db?mode=rwc",
            "NKPAY__SECRETS__MASTER_KEY_FILE": str(tmp / "master.key"),
            "RUST_LOG": env.get("RUST_LOG", "info"),
        }
    )
    env.update(extra_env or {})
    creds_path = tmp / "credentials.json"
    log_path = tmp / "nkpay.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [str(BIN_DIR / "nkpay"), "demo", "--credentials", str(creds_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp,
    )

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"nkpay demo exited with {proc.returncode}:\n{log_path.read_text()}")
        if not creds_path.exists():
            return False
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, timeout=60, what="nkpay demo to be ready")
    return Platform(proc, json.loads(creds_path.read_text()), log_path)


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("demo")
    p = start_demo(tmp)
    yield p
    p.proc.terminate()
    try:
        p.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.proc.kill()
