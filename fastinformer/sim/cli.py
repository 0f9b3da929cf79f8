"""``fastinformer sim serve``: run the simulator from the shell until interrupted."""

from __future__ import annotations

import argparse
import threading


def _auth(args: argparse.Namespace) -> str | bool:
    """The token setting: explicit token, none with --no-auth, and none over plain HTTP
    unless a token was asked for (kubectl never sends a bearer token over HTTP)."""
    if args.token:
        return str(args.token)
    if args.no_auth:
        return False
    return bool(args.tls)


def _serve(args: argparse.Namespace) -> int:
    from fastinformer.sim.simulator import Simulator

    if not args.tls and not args.token and not args.no_auth:
        print("plain HTTP: serving without authentication (kubectl does not send tokens "
              "over HTTP); use --tls for bearer-token auth", flush=True)
    sim = Simulator(
        host=args.host,
        port=args.port,
        tls=args.tls,
        token=_auth(args),
        history=args.history,
        bookmark_interval=args.bookmark_interval,
        kubeconfig_path=args.kubeconfig,
        seed=args.seed,
        allow_remote=args.allow_remote,
    )
    with sim:
        if args.nodes or args.pods:
            counts = sim.populate(args.nodes, args.pods, args.namespaces, args.seed)
            print(f"populated {counts['nodes']} nodes, {counts['pods']} pods, "
                  f"{counts['namespaces']} new namespaces", flush=True)
        if args.churn:
            sim.churn(rate=args.churn)
        print(f"serving {sim.url}", flush=True)
        print(f"kubeconfig {sim.kubeconfig_path}", flush=True)
        threading.Event().wait()  # until KeyboardInterrupt
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sim serve`` on the ``fastinformer`` command's subparsers."""
    sim = sub.add_parser("sim", help="the embedded Kubernetes API simulator")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    serve = sim_sub.add_parser("serve", help="serve until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--tls", action="store_true", help="HTTPS with a generated CA")
    serve.add_argument(
        "--token", default=None, help="bearer token (default: generated with --tls, none otherwise)"
    )
    serve.add_argument("--no-auth", action="store_true", help="accept requests without token")
    serve.add_argument("--kubeconfig", default=None, help="where to write the kubeconfig")
    serve.add_argument("--nodes", type=int, default=0)
    serve.add_argument("--pods", type=int, default=0)
    serve.add_argument("--namespaces", type=int, default=10)
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--history", type=int, default=100_000, help="events kept for watches")
    serve.add_argument("--bookmark-interval", type=float, default=60.0)
    serve.add_argument("--churn", type=float, default=0.0, help="pod writes per second")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow a non-loopback --host")
    serve.set_defaults(func=_serve)
