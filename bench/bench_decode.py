"""pyperf benchmarks of list and watch decoding, and the memory a decoded pod costs.

Decodes a seeded PodList of ``--pods`` pods (default 10,000) built by
``fastinformer.sim.populate.make_pod`` when it exists (``--source sim``, ~5.4 KB each),
or from the recorded kube-apiserver pods (``--source recorded``, ~4.4 KB each), in
typed and dict mode, with the cyclic GC paused, enabled or frozen, with msgspec and
orjson. A previous decode of the same list stays alive while timing, as the informer's
cache would during a relist. Examples::

    python bench/bench_decode.py --json decode.json
    python bench/bench_decode.py --cases typed -p 3
    python bench/bench_decode.py --memory          # bytes per decoded pod, no pyperf
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pyperf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastinformer.decode import ObjectDecoder, decoder_for
from fastinformer.models import Pod

RECORDED = Path(
    "/work/shared/apiserver-recordings/23-list-pods-field-selector-nodename-limit3.json"
)
TimeFunc = Callable[[int], float]


def _server_fields(pod: dict[str, Any], i: int, rnd: random.Random) -> None:
    md = pod["metadata"]
    md["uid"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    md["resourceVersion"] = str(100_000 + i)
    md.setdefault("creationTimestamp", "2026-11-22T07:13:36Z")


def sim_pods(count: int, seed: int) -> list[dict[str, Any]]:
    """Pods of the simulator's population, with the fields the server assigns."""
    from fastinformer.sim.populate import make_pod

    rnd = random.Random(seed)
    pods = []
    for i in range(count):
        pod = make_pod(i, f"kwok-node-{i % 100}", f"ns-{i % 50}", seed=seed)
        _server_fields(pod, i, rnd)
        pods.append(pod)
    return pods


def recorded_pods(count: int, seed: int) -> list[dict[str, Any]]:
    """The recorded pods, renamed and re-addressed per index."""
    base = json.loads(RECORDED.read_text())["body"]["items"]
    rnd = random.Random(seed)
    pods = []
    for i in range(count):
        pod = copy.deepcopy(base[i % len(base)])
        pod["metadata"]["name"] = f"pod-{i}"
        pod["metadata"]["namespace"] = f"ns-{i % 50}"
        pod["metadata"]["labels"]["app"] = f"app-{i % 50}"
        pod["spec"]["nodeName"] = f"kwok-node-{i % 100}"
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        pod["status"]["podIP"] = ip
        pod["status"]["podIPs"] = [{"ip": ip}]
        _server_fields(pod, i, rnd)
        pods.append(pod)
    return pods


def pod_list_bytes(source: str, count: int, seed: int) -> bytes:
    """The PodList body, built once and cached in the temp directory (workers share it)."""
    path = Path(tempfile.gettempdir()) / f"fastinformer-bench-decode-{source}-{count}-{seed}.json"
    if path.exists():
        return path.read_bytes()
    pods = sim_pods(count, seed) if source == "sim" else recorded_pods(count, seed)
    body = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "200000"}}
    data = orjson.dumps({**body, "items": pods})
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def default_source() -> str:
    try:
        import fastinformer.sim.populate  # noqa: F401
    except ImportError:
        return "recorded"
    return "sim"


class PodList(msgspec.Struct):
    items: list[Pod]


def _strip_managed_fields(items: list[dict[str, Any]]) -> None:
    for item in items:
        md = item.get("metadata")
        if isinstance(md, dict):
            md.pop("managedFields", None)


def make_cases(data: bytes) -> dict[str, TimeFunc]:
    """Each case decodes ``data`` ``loops`` times while a previous result stays alive."""
    typed = decoder_for("Pod")
    as_dict = decoder_for("Pod", "dict")
    raw_typed = msgspec.json.Decoder(PodList)
    raw_dict = msgspec.json.Decoder()
    one = orjson.loads(data)["items"][0]
    event = orjson.dumps({"type": "MODIFIED", "object": one})

    def timed(decode: Callable[[], Any], gc_mode: str = "paused") -> TimeFunc:
        def run(loops: int) -> float:
            gc.enable()
            alive = decode()  # the cache a relist replaces
            if gc_mode == "frozen":
                gc.collect()
                gc.freeze()
            elif gc_mode == "off":
                gc.disable()
            try:
                t0 = time.perf_counter()
                for _ in range(loops):
                    result = decode()
                    del result
                return time.perf_counter() - t0
            finally:
                gc.enable()
                gc.unfreeze()
                del alive

        return run

    def orjson_dict() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = orjson.loads(data)["items"]
        _strip_managed_fields(items)
        return items

    def msgspec_dict() -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = raw_dict.decode(data)["items"]
        _strip_managed_fields(items)
        return items

    def events(decode: Callable[[bytes], Any]) -> TimeFunc:
        def run(loops: int) -> float:
            t0 = time.perf_counter()
            for _ in range(loops):
                decode(event)
            return time.perf_counter() - t0

        return run

    lines = [orjson.dumps({"type": "MODIFIED", "object": item})
             for item in orjson.loads(data)["items"]]

    def stream(decoder: ObjectDecoder, reusing: bool) -> TimeFunc:
        """MODIFIED events of every pod in turn, each replacing the pod's previous version
        in a cache (so its freeing is timed too); ``reusing``: through
        ``decode_event_reusing`` with its memo primed by one pass over the pods."""

        def run(loops: int) -> float:
            memo: dict[Any, Any] = {}

            def decode(line: bytes) -> Any:
                if reusing:
                    return decoder.decode_event_reusing(line, memo).object
                return decoder.decode_event(line).object

            cache = [decode(line) for line in lines]
            n = len(lines)
            t0 = time.perf_counter()
            for k in range(loops):
                cache[k % n] = decode(lines[k % n])
            return time.perf_counter() - t0

        return run

    return {
        "list_typed_decoder": timed(lambda: typed.decode_list(data)),
        "list_typed_msgspec_gc_on": timed(lambda: raw_typed.decode(data), "on"),
        "list_typed_msgspec_gc_off": timed(lambda: raw_typed.decode(data), "off"),
        "list_typed_msgspec_gc_frozen": timed(lambda: raw_typed.decode(data), "frozen"),
        "list_dict_decoder": timed(lambda: as_dict.decode_list(data)),
        "list_dict_msgspec_gc_on": timed(msgspec_dict, "on"),
        "list_dict_msgspec_gc_off": timed(msgspec_dict, "off"),
        "list_dict_orjson_gc_on": timed(orjson_dict, "on"),
        "list_dict_orjson_gc_off": timed(orjson_dict, "off"),
        "event_typed_decoder": events(typed.decode_event),
        "event_stream_typed": stream(typed, reusing=False),
        "event_stream_typed_reusing": stream(typed, reusing=True),
        "event_stream_dict": stream(as_dict, reusing=False),
        "event_stream_dict_reusing": stream(as_dict, reusing=True),
        "event_dict_decoder": events(as_dict.decode_event),
        "event_dict_orjson": events(orjson.loads),
    }


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _memory_decoders(data: bytes) -> dict[str, Callable[[], list[Any]]]:
    return {
        "typed": lambda: decoder_for("Pod").decode_list(data)[0],
        "typed_keep_managed_fields": lambda: decoder_for(
            "Pod", keep_managed_fields=True
        ).decode_list(data)[0],
        "dict": lambda: decoder_for("Pod", "dict").decode_list(data)[0],
    }


def rss_delta(data: bytes, mode: str) -> int:
    """RSS growth from decoding ``data`` in a fresh process (run by ``--rss-of``)."""
    decode = _memory_decoders(data)[mode]
    gc.collect()
    rss0 = _rss()
    items = decode()
    gc.collect()
    return _rss() - rss0 if items else 0


def measure_memory(data: bytes, args: Any) -> dict[str, dict[str, float]]:
    """Bytes per decoded pod: tracemalloc in this process, RSS growth in a fresh one."""
    out: dict[str, dict[str, float]] = {}
    count = args.pods
    for name, decode in _memory_decoders(data).items():
        cmd = [sys.executable, os.path.abspath(__file__), "--rss-of", name]
        cmd += ["--source", args.source, "--pods", str(count), "--seed", str(args.seed)]
        rss = int(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        decode()  # warm up the shared-string cache as a running informer would have
        gc.collect()
        tracemalloc.start()
        t0 = tracemalloc.get_traced_memory()[0]
        items = decode()
        t1 = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        assert len(items) == count
        out[name] = {
            "tracemalloc_bytes_per_pod": round((t1 - t0) / count),
            "rss_bytes_per_pod": round(rss / count),
        }
        del items
        gc.collect()
    out["json"] = {"bytes_per_pod": round(len(data) / count)}
    return out


def _add_args(cmd: list[str], args: Any) -> None:
    cmd.extend(["--source", args.source, "--pods", str(args.pods), "--seed", str(args.seed)])
    if args.cases:
        cmd.extend(["--cases", args.cases])


def main() -> None:
    runner = pyperf.Runner(add_cmdline_args=_add_args, processes=4, values=3)
    parser: argparse.ArgumentParser = runner.argparser
    parser.add_argument("--source", choices=("sim", "recorded"), default=default_source())
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", default="", help="run cases whose name contains this")
    parser.add_argument("--json", default=None, help="write results to this JSON file")
    parser.add_argument("--memory", action="store_true", help="report bytes per pod and exit")
    parser.add_argument("--rss-of", default=None, help=argparse.SUPPRESS)
    args = runner.parse_args()
    if args.json and not args.output and not args.worker:
        args.output = args.json
    data = pod_list_bytes(args.source, args.pods, args.seed)
    if args.rss_of:
        print(rss_delta(data, args.rss_of))
        return
    if args.memory:
        report = measure_memory(data, args)
        print(json.dumps({"source": args.source, "pods": args.pods, **report}, indent=1))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=1))
        return
    for name, func in make_cases(data).items():
        if args.cases and args.cases not in name:
            continue
        runner.bench_time_func(f"{name}_{args.source}_{args.pods}", func)


if __name__ == "__main__":
    main()
