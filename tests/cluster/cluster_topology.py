"""The docker-compose topology without containers, for tests/cluster/: a PostgreSQL database,
the channel simulators (`nkpay-sandbox`), several `nkpay serve` nodes and Debian's nginx in
front, rendered from the same template compose uses (deploy/nginx/). Also a merchant API client
safe to share between threads and a notification receiver that records every attempt."""

import base64
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import http.server
import urllib.parse

import requests
from dg_sdk.core.api_request import verify_sign
from dg_sdk.core.param_handler import pop_empty_value, sort_dict
from dg_sdk.core.rsa_utils import rsa_design, rsa_sign

from conftest import BIN_DIR, free_port, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
RENDER = ROOT / "deploy" / "nginx" / "render.sh"


class Postgres:
    """Queries on the test database through `psql` (what the other Python tests use)."""

    def __init__(self, url: str):
        self.url = url

    def rows(self, sql: str) -> list[list[str]]:
        """The rows of `sql`, each a list of column texts (NULL as the empty string)."""
        out = subprocess.run(
            ["psql", self.url, "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, f"psql: {sql}\n{out.stderr}"
        return [line.split("\t") for line in out.stdout.splitlines() if line != ""]

    def value(self, sql: str) -> str:
        [[v]] = self.rows(sql)
        return v


def master_key() -> str:
    """A master key (base64 of 32 bytes) shared by every process of the cluster."""
    return base64.b64encode(os.urandom(32)).decode()


class Process:
    """A child process with its output in a log file; stopped by SIGTERM (or killed)."""

    def __init__(self, name: str, args: list[str], env: dict, log_path: pathlib.Path, cwd: pathlib.Path):
        self.name = name
        self.log_path = log_path
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self):
        """SIGKILL: no chance to release anything."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout=40) -> int:
        """SIGTERM, then the exit status (SIGKILL after `timeout` seconds)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def http_ready(url: str, proc: Process, status=200):
    """A predicate for wait_for: `url` answers `status`, failing at once if `proc` died."""

    def ready():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()[-4000:]}")
        try:
            return requests.get(url, timeout=1).status_code == status
        except requests.RequestException:
            return False

    return ready


def wait_started(proc: Process, predicate, what: str, timeout: float):
    """Waits until `predicate`; stops `proc` before failing, so no process outlives the test."""
    try:
        wait_for(predicate, timeout=timeout, what=what)
    except BaseException:
        proc.stop()
        raise


def start_sandbox(tmp: pathlib.Path, port: int, accounts: dict, time_scale: str) -> Process:
    """`nkpay-sandbox` on `port`, serving `accounts` (the `--accounts-out` shape)."""
    config = tmp / "sandbox-accounts.json"
    config.write_text(json.dumps(accounts))
    proc = Process(
        "nkpay-sandbox",
        [str(BIN_DIR / "nkpay-sandbox"), "--port", str(port), "--config", str(config), "--time-scale", time_scale],
        dict(os.environ),
        tmp / "sandbox.log",
        tmp,
    )
    wait_started(proc, http_ready(f"http://127.0.0.1:{port}/sandbox/accounts", proc), "the sandbox", 60)
    return proc


class Node:
    """One `nkpay serve` node: its id, port and environment; started again with the same ones."""

    def __init__(self, tmp: pathlib.Path, node_id: int):
        self.tmp = tmp
        self.node_id = node_id
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"node-{node_id}.log"
        self.process = None

    def start(self, shared_env: dict, extra_env=None):
        """Starts `nkpay serve --no-migrate` (the seeding migrated the database) on the cluster's
        `shared_env` with this node's id and port, and waits for `/readyz`."""
        env = dict(shared_env)
        env.update({"NKPAY__SERVER__NODE_ID": str(self.node_id), "NKPAY__SERVER__PORT": str(self.port)})
        env.update(extra_env or {})
        self.process = Process(
            f"node {self.node_id}", [str(BIN_DIR / "nkpay"), "serve", "--no-migrate"], env, self.log_path, self.tmp
        )
        wait_started(self.process, http_ready(f"{self.base_url}/readyz", self.process), f"node {self.node_id}", 90)

    def log_events(self) -> list[dict]:
        """The fields (`message` included) of every JSON log line of the node, over all its
        runs (the log file is appended to); the fields nested under `fields` or at the top."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                out.append({**event, **event.get("fields", {})})
        return out


class Nginx:
    """Debian's nginx with deploy/nginx/nginx.conf.template rendered for loopback upstreams."""

    def __init__(self, tmp: pathlib.Path, upstream_ports: list[int]):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.prefix = tmp / "nginx"
        upstreams = [f"127.0.0.1:{p}" for p in upstream_ports]
        subprocess.run(
            ["sh", str(RENDER), str(self.prefix), f"127.0.0.1:{self.port}", *upstreams], check=True, timeout=30
        )
        self.process = Process(
            "nginx",
            ["nginx", "-p", str(self.prefix), "-c", "nginx.conf", "-e", "stderr", "-g", "daemon off;"],
            dict(os.environ),
            tmp / "nginx.log",
            tmp,
        )
        # nginx answers /metrics itself (404: not for the public), before any node is up.
        wait_started(self.process, http_ready(f"{self.base_url}/metrics", self.process, 404), "nginx", 30)


class MerchantApi:
    """Signed calls to the merchant API as a service provider, built with dg-sdk's own canonical
    form, signature and reply check (dg-sdk's request classes keep one request in class
    attributes, so they cannot be shared by threads). A call that gets no signed answer — the
    connection refused or reset, or nginx's 502 when a node died with the request — is repeated
    with the same body, as a merchant repeats a request with the same `req_seq_id`."""

    def __init__(self, base_url, sys_id, product_id, private_key, platform_public_key):
        self.base_url = base_url
        self.sys_id = sys_id
        self.product_id = product_id
        self.private_key = private_key
        self.platform_public_key = platform_public_key
        self.repeats = 0
        self._lock = threading.Lock()

    def call(self, path: str, data: dict, deadline_secs=60.0) -> dict:
        """The reply `data` of `path` (signature verified)."""
        return self.call_counted(path, data, deadline_secs)[0]

    def call_counted(self, path: str, data: dict, deadline_secs=60.0) -> tuple[dict, int]:
        """The reply `data` of `path` and how many times the request was sent for it."""
        params = sort_dict(params=pop_empty_value(dict(data)))
        text = json.dumps(params, ensure_ascii=False, separators=(",", ":"))
        ok, sign = rsa_sign(self.private_key, text)
        assert ok, sign
        body = {"sys_id": self.sys_id, "product_id": self.product_id, "sign": sign, "data": params}
        deadline = time.monotonic() + deadline_secs
        sent = 0
        while True:
            sent += 1
            try:
                r = requests.post(self.base_url + path, json=body, timeout=30)
                if r.status_code == 200:
                    reply = r.json()
                    ok, info = verify_sign(reply["sign"], reply["data"], self.platform_public_key)
                    assert ok, f"reply signature of {path}: {info}"
                    return reply["data"], sent
                assert r.status_code in (502, 503, 504), f"{path}: {r.status_code} {r.text}"
            except requests.ConnectionError:
                pass
            with self._lock:
                self.repeats += 1
            assert time.monotonic() < deadline, f"{path}: no signed answer within {deadline_secs} s"
            time.sleep(0.2)


class NotifyReceiver:
    """The merchant's notification endpoint. Records every attempt — which notification
    (`notify_type`, `nkp_seq_id`), when it started and ended (monotonic seconds), the answer,
    whether the signature verified. `/flaky` answers 500 to the first attempt of each
    notification, `/ok` 200 to every attempt. Each attempt takes 50 ms, as a receiver doing
    work would, so two attempts of one notification would overlap visibly."""

    def __init__(self, platform_public_key: str):
        self.attempts = []
        self._seen = set()
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                start = time.monotonic()
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                resp_data = json.loads(form["resp_data"])
                key = (resp_data["notify_type"], resp_data["nkp_seq_id"])
                verified = rsa_design(form["sign"], form["resp_data"], platform_public_key)[0]
                with outer._lock:
                    first = key not in outer._seen
                    outer._seen.add(key)
                status = 500 if self.path == "/flaky" and first else 200
                time.sleep(0.05)
                end = time.monotonic()
                with outer._lock:
                    outer.attempts.append(
                        {"key": key, "start": start, "end": end, "status": status, "verified": verified,
                         "trans_stat": resp_data.get("trans_stat")}
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    # The node that made the attempt died (SIGKILL) or gave up: it was not
                    # told, and another attempt follows.
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.attempts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
