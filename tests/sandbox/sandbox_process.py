"""The `nkpay-sandbox` process for the SDK-driven tests: started on a free port with
--accounts-out, SDK clients (wechatpy, python-alipay-sdk) built from the accounts it writes, a
generated PKI for its TLS mode, and a receiver that records notifies."""

import datetime
import http.server
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import requests
from alipay import AliPay, ISVAliPay
from wechatpy.pay import WeChatPay

# tests/ (ports.py): on sys.path already under `pytest tests`, not under `pytest tests/sandbox`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from ports import free_port  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANDBOX_BIN = pathlib.Path(os.environ.get("NKPAY_BIN_DIR", ROOT / "target" / "debug")) / "nkpay-sandbox"
# Channel time runs 1000x faster: WeChat's 15 s first retry takes 15 ms.
TIME_SCALE = "0.001"


def shanghai_today() -> datetime.date:
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).date()


def eventually(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class SandboxProcess:
    """A running `nkpay-sandbox` and the accounts it serves (from --accounts-out)."""

    def __init__(self, tmp: pathlib.Path, extra_args=()):
        assert SANDBOX_BIN.exists(), f"build it first: cargo build -p nkpay-sandbox ({SANDBOX_BIN})"
        self.accounts_path = tmp / "accounts.json"
        self.log_path = tmp / "sandbox.log"
        port = free_port()
        self.proc = subprocess.Popen(
            [str(SANDBOX_BIN), "--port", str(port), "--accounts-out", str(self.accounts_path),
             "--time-scale", TIME_SCALE, *extra_args],
            stdout=open(self.log_path, "wb"),
            stderr=subprocess.STDOUT,
        )

        def written():
            if self.proc.poll() is not None:
                raise AssertionError(f"nkpay-sandbox exited {self.proc.returncode}:\n{self.log_path.read_text()}")
            return self.accounts_path.exists()

        eventually(written, timeout=30, what="the accounts file")
        self.accounts = json.loads(self.accounts_path.read_text())
        self.base_url = self.accounts["base_url"]
        assert self.base_url.endswith(f":{port}")
        self.verify = True

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    # -- control plane --
    def state(self) -> dict:
        return requests.get(f"{self.base_url}/sandbox/state", verify=self.verify, timeout=10).json()

    def set_faults(self, **faults):
        r = requests.post(f"{self.base_url}/sandbox/faults", json=faults, verify=self.verify, timeout=10)
        assert r.status_code == 200, r.text

    def pay_wechat(self, prepay_id, result="SUCCESS", openid=None):
        body = {"prepay_id": prepay_id, "result": result}
        if openid:
            body["openid"] = openid
        return requests.post(f"{self.base_url}/sandbox/wechat/pay", json=body, verify=self.verify, timeout=10)

    def pay_alipay(self, qr_code, result="SUCCESS", buyer_id=None):
        body = {"qr_code": qr_code, "result": result}
        if buyer_id:
            body["buyer_id"] = buyer_id
        return requests.post(f"{self.base_url}/sandbox/alipay/pay", json=body, verify=self.verify, timeout=10)

    def scan_alipay(self, qr_code):
        return requests.post(f"{self.base_url}/sandbox/alipay/scan", json={"qr_code": qr_code},
                             verify=self.verify, timeout=10)

    # -- SDK clients acting as the platform --
    @property
    def sp(self) -> dict:
        return self.accounts["wechat"]["service_providers"][0]

    def wechat(self, sub=0, app=0, **kwargs) -> WeChatPay:
        """wechatpy as the SP, for sub-merchant `sub` and its bound appid `app` (None: no sub_appid)."""
        merchant = self.sp["sub_merchants"][sub]
        client = WeChatPay(
            appid=self.sp["appid"],
            api_key=self.sp["api_key"],
            mch_id=self.sp["mch_id"],
            sub_mch_id=merchant["sub_mch_id"],
            sub_appid=None if app is None else merchant["appids"][app]["appid"],
            **kwargs,
        )
        client.API_BASE_URL = self.accounts["wechat"]["api_base_url"]
        client._http.verify = self.verify
        # REQUESTS_CA_BUNDLE in the environment would override the session's CA for the TLS mode.
        client._http.trust_env = False
        return client

    @property
    def isv(self) -> dict:
        return self.accounts["alipay"]["isv_apps"][0]

    def alipay(self, grant=0, token=None) -> ISVAliPay:
        """python-alipay-sdk as the ISV, on behalf of grant `grant` (or a raw `token`)."""
        client = ISVAliPay(
            appid=self.isv["app_id"],
            app_private_key_string=self.isv["app_private_key"],
            alipay_public_key_string=self.isv["alipay_public_key"],
            app_auth_token=token or self.isv["grants"][grant]["app_auth_token"],
        )
        client._gateway = self.accounts["alipay"]["gateway_url"]
        return client

    def alipay_verifier(self) -> AliPay:
        return AliPay(
            appid=self.isv["app_id"],
            app_private_key_string=self.isv["app_private_key"],
            alipay_public_key_string=self.isv["alipay_public_key"],
        )


def make_pki(tmp: pathlib.Path) -> dict:
    """A CA, a server certificate for 127.0.0.1 and a merchant client certificate, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject_cn, key, issuer_name, issuer_key, ca=False, san=None, usage=None):
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
             .issuer_name(issuer_name)
             .public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=5))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if usage:
            b = b.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(name, data: bytes) -> str:
        path = tmp / name
        path.write_bytes(data)
        return str(path)

    def key_pem(key):
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nkpay test CA")])
    ca = cert("nkpay test CA", ca_key, ca_name, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = cert("127.0.0.1", server_key, ca_name, ca_key,
                  san=[x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
                  usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = cert("1900000109", client_key, ca_name, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    pem = serialization.Encoding.PEM
    return {
        "ca": write("ca.pem", ca.public_bytes(pem)),
        "server_cert": write("server.pem", server.public_bytes(pem)),
        "server_key": write("server.key", key_pem(server_key)),
        "client_cert": write("client.pem", client.public_bytes(pem)),
        "client_key": write("client.key", key_pem(client_key)),
    }


class Receiver:
    """Records the notifies POSTed to it; refuses the first `refuse_first` (WeChat FAIL / Alipay fail)."""

    def __init__(self, refuse_first=0):
        self.received = []
        self.refuse_first = refuse_first
        lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    outer.received.append({
                        "path": self.path,
                        "content_type": self.headers.get("Content-Type", ""),
                        "body": body.decode("utf-8"),
                    })
                    ok = len(outer.received) > outer.refuse_first
                if self.path.startswith("/wx"):
                    code = "SUCCESS" if ok else "FAIL"
                    reply = f"<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
                else:
                    reply = "success" if ok else "fail"
                data = reply.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n, timeout=10.0):
        eventually(lambda: len(self.received) >= n, timeout=timeout, what=f"{n} notifies")
        return list(self.received)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
