"""sim/cli: ``fastinformer sim serve`` serves until interrupted, with a usable kubeconfig."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client, config

from fastinformer.sim.cli import _auth


def _serve(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    kubeconfig = tmp_path / "sim.kubeconfig"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fastinformer.cli",
            "sim",
            "serve",
            "--port",
            "0",
            "--nodes",
            "2",
            "--pods",
            "6",
            "--namespaces",
            "2",
            "--kubeconfig",
            str(kubeconfig),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("kubeconfig "):
            return proc, kubeconfig
    proc.kill()
    raise AssertionError(f"sim serve exited early: {proc.wait()}")


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_sim_serve_writes_a_kubeconfig_the_kubernetes_client_accepts(
    tmp_path: Path, tls: bool
) -> None:
    proc, kubeconfig = _serve(tmp_path, *(["--tls"] if tls else []))
    try:
        cfg = client.Configuration()
        config.load_kube_config(str(kubeconfig), client_configuration=cfg)
        assert cfg.host.startswith("https://" if tls else "http://")
        with client.ApiClient(cfg) as api:
            pods = client.CoreV1Api(api).list_pod_for_all_namespaces()
        assert len(pods.items) == 6
    finally:
        assert _stop(proc) in (0, 130, -signal.SIGINT)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_kubectl_works_with_the_served_kubeconfig(tmp_path: Path, tls: bool) -> None:
    proc, kubeconfig = _serve(tmp_path, *(["--tls"] if tls else []))
    try:
        out = subprocess.run(
            ["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        assert out.returncode == 0, out.stderr
        assert sorted(out.stdout.split()) == ["node/kwok-node-0", "node/kwok-node-1"]
    finally:
        _stop(proc)


def test_token_auth_is_on_with_tls_or_an_explicit_token_only() -> None:
    def ns(**kw: object) -> argparse.Namespace:
        return argparse.Namespace(**{"token": None, "no_auth": False, "tls": False, **kw})

    assert _auth(ns()) is False
    assert _auth(ns(tls=True)) is True
    assert _auth(ns(token="abc")) == "abc"
    assert _auth(ns(tls=True, no_auth=True)) is False
