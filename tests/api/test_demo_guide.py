"""`nkpay demo` prints a guide for newcomers; its examples must run exactly as printed."""

import os
import re
import subprocess
import sys

from conftest import ROOT, wait_for


def block(log: str, name: str) -> str:
    m = re.search(rf"# BEGIN {name}\n(.*?)# END {name}\n", log, re.S)
    assert m, f"the demo guide has no {name}:\n{log}"
    return m.group(1)


def guide(platform):
    return wait_for(lambda: platform.log() if "# END CALL EXAMPLE" in platform.log() else None,
                    what="the printed guide")


def test_printed_python_example_creates_a_trade(platform):
    script = block(guide(platform), "PYTHON EXAMPLE")
    env = dict(os.environ)
    # `python3` as printed, with dg-sdk installed: the test venv's interpreter.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "'resp_code': '00000100'" in out.stdout, out.stdout + out.stderr
    assert "'qr_code': 'http" in out.stdout


def test_printed_call_example_verifies_the_reply(platform):
    command = block(guide(platform), "CALL EXAMPLE").strip()
    out = subprocess.run(["bash", "-c", command], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "reply signature: verified" in out.stdout, out.stdout
    assert '"resp_code": "00000100"' in out.stdout, out.stdout
    assert "request string signed by you:" in out.stdout
