"""Writing a kubeconfig that points kubectl, the kubernetes client and fastinformer at the
simulator."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

CONTEXT = "fastinformer-sim"


def render(url: str, token: str | None, ca_pem: bytes | None) -> str:
    """The kubeconfig text (YAML; values are JSON-quoted so any URL or token is safe)."""
    cluster = f"    server: {json.dumps(url)}\n"
    if ca_pem is not None:
        ca = base64.b64encode(ca_pem).decode()
        cluster += f"    certificate-authority-data: {ca}\n"
    user = f"    token: {json.dumps(token)}\n" if token else "    {}\n"
    user_block = f"  user:\n{user}" if token else "  user: {}\n"
    return (
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        f"- name: {CONTEXT}\n"
        f"  cluster:\n{cluster}"
        "users:\n"
        f"- name: {CONTEXT}\n"
        f"{user_block}"
        "contexts:\n"
        f"- name: {CONTEXT}\n"
        "  context:\n"
        f"    cluster: {CONTEXT}\n"
        f"    user: {CONTEXT}\n"
        "    namespace: default\n"
        f"current-context: {CONTEXT}\n"
        "preferences: {}\n"
    )


def write(path: str | os.PathLike[str], url: str, token: str | None, ca_pem: bytes | None) -> Path:
    """Write the kubeconfig to ``path`` (mode 0600, parents created); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(render(url, token, ca_pem))
    return target
