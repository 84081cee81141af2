"""``persona serve``: it says where it listens (``--json``: one line a script can read), and a port it cannot
take is a one-line error with a fix."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest


def _serve(ws: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONA_")}
    return subprocess.Popen([sys.executable, "-m", "persona.cli.main", "serve", "--workspace", str(ws), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.fixture
def served(cli_ws: Path):
    proc = _serve(cli_ws, "--port", "0", "--json")
    try:
        line = proc.stdout.readline()
        yield proc, line
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_json_line_names_the_bound_port_and_the_service_answers_there(served, cli_ws):
    proc, line = served
    info = json.loads(line)
    assert info["status"] == "listening" and info["port"] > 0 and info["workers"] == 1
    assert info["workspace"] == str(cli_ws) and info["database"] == "sqlite"
    assert info["url"] == f"http://127.0.0.1:{info['port']}" and info["dashboard"].endswith("/ui")
    with urllib.request.urlopen(info["ready"], timeout=30) as resp:
        assert json.loads(resp.read())["checks"]["database"] == "ok"


def test_a_port_in_use_is_a_one_line_error(cli_ws):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = _serve(cli_ws, "--port", str(port), "--json")
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    assert f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err and "Traceback" not in err


def test_no_workspace_is_an_error_before_binding(tmp_path):
    proc = _serve(tmp_path / "none", "--port", "0", "--json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and out == "" and "persona init" in err


@pytest.mark.parametrize(("args", "says"), [
    (("--log-level", "bogus"), "--log-level 'bogus' is not a log level"),
    (("--redis-url", "notaurl"), "--redis-url 'notaurl' is not a Redis URL"),
    (("--host", "999.1.1.1"), "--host '999.1.1.1' is not an address"),
])
def test_a_bad_option_is_a_one_line_error_before_starting(cli_ws, args, says):
    proc = _serve(cli_ws, "--port", "0", "--json", *args)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == "" and says in err and "Traceback" not in err
