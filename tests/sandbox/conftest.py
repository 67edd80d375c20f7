"""Fixtures for driving the channel simulators with the official SDKs: the `nkpay-sandbox` binary
on a free port (plain HTTP, and HTTPS with a generated PKI for secapi/ client certificates), and
notify receivers."""

import pytest

from sandbox_process import Receiver, SandboxProcess, make_pki


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    sb = SandboxProcess(tmp_path_factory.mktemp("sandbox"))
    yield sb
    sb.stop()


@pytest.fixture(autouse=True)
def _no_faults_leak(request):
    yield
    for name in ("sandbox", "tls_sandbox"):
        if name in request.fixturenames:
            request.getfixturevalue(name).set_faults()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def tls_sandbox(tmp_path_factory, pki):
    sb = SandboxProcess(tmp_path_factory.mktemp("tls-sandbox"), extra_args=[
        "--tls-cert", pki["server_cert"], "--tls-key", pki["server_key"], "--client-ca", pki["ca"]])
    sb.verify = pki["ca"]
    assert sb.base_url.startswith("https://")
    yield sb
    sb.stop()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def make_receiver():
    made = []

    def make(refuse_first=0):
        r = Receiver(refuse_first)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()
