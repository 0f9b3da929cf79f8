"""Orchestration of ``fastinformer bench``: the target (embedded simulator or a real
cluster), one process per contender, the workloads in order, and the results document.

Each contender runs alone (one process at a time), so it has the machine to itself
apart from the simulator, which serves from the orchestrator's process.
"""

from __future__ import annotations

import datetime as _dt
import gc
import json
import os
import platform
import queue
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from fastinformer.bench.contenders import BASELINE, CONTENDERS, DEFAULT_CONTENDERS
from fastinformer.bench.profile import py_spy, record_argv
from fastinformer.bench.workloads import (
    ALL_WORKLOADS,
    LATENCY,
    LISTERS,
    MUTATING,
    RELIST,
    SIMULATOR_ONLY,
    SYNC,
    THROUGHPUT,
    HttpWriter,
    PodKey,
    PodWriter,
    SimWriter,
    paced_writes,
)

__all__ = ["BenchError", "BenchOptions", "ContenderProcess", "run_bench"]

SCHEMA_VERSION = 1
RELIST_PODS = 100
"""Pods changed behind the contender's back in the relist workload."""


class BenchError(RuntimeError):
    """The benchmark cannot run as asked (bad options, a target that does not answer)."""


@dataclass
class BenchOptions:
    """Everything ``fastinformer bench`` accepts (see ``fastinformer bench --help``)."""

    pods: int = 10_000
    nodes: int = 100
    namespaces: int = 10
    events_per_second: float = 5_000.0
    duration: float = 10.0
    burst: int = 10_000
    workloads: tuple[str, ...] = ALL_WORKLOADS
    contenders: tuple[str, ...] = DEFAULT_CONTENDERS
    out: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    populate: bool = False
    profile: bool = False
    seed: int = 0
    sync_timeout: float = 300.0
    lister_seconds: float = 2.0
    pin: bool = False
    tls: bool = False
    bursts: int = 3
    command_line: list[str] = field(default_factory=lambda: list(sys.argv))

    def validate(self) -> None:
        for name in ("pods", "nodes", "namespaces", "burst", "bursts"):
            if getattr(self, name) < 1:
                raise BenchError(f"--{name} must be at least 1")
        if self.events_per_second <= 0 or self.duration <= 0 or self.sync_timeout <= 0:
            raise BenchError("--events-per-second, --duration and --sync-timeout must be > 0")
        unknown = set(self.workloads) - set(ALL_WORKLOADS)
        if unknown:
            raise BenchError(f"unknown workloads {sorted(unknown)}: choose among "
                             f"{', '.join(ALL_WORKLOADS)}")
        unknown = set(self.contenders) - set(CONTENDERS)
        if unknown:
            raise BenchError(f"unknown contenders {sorted(unknown)}: choose among "
                             f"{', '.join(CONTENDERS)}")
        if self.context and not self.kubeconfig:
            raise BenchError("--context needs --kubeconfig")
        if self.populate and not self.kubeconfig:
            raise BenchError("--populate applies to --kubeconfig clusters (the simulator "
                             "is always populated)")
        if self.tls and self.kubeconfig:
            raise BenchError("--tls applies to the simulator (a cluster's kubeconfig says "
                             "how to reach it)")


# Progress ---------------------------------------------------------------------------------


class Reporter:
    """Progress bars (rich, on stderr) for phases that may take more than a second."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, quiet=quiet)

    @contextmanager
    def phase(
        self, description: str, total: float | None = None
    ) -> Iterator[Callable[[float], None]]:
        """A progress bar for one phase; yields ``advance(amount)``."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=self.console,
                      transient=True) as progress:
            task = progress.add_task(description, total=total)

            def advance(amount: float) -> None:
                progress.advance(task, amount)

            yield advance

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)


# Targets ----------------------------------------------------------------------------------


class Target:
    """Where the pods live: ``kubeconfig``/``context`` for the contenders, the pods' keys,
    and a writer when the workloads may change pods (None: read-only)."""

    is_simulator = False
    kubeconfig = ""
    context: str | None = None
    writer: PodWriter | None = None

    def __init__(self, options: BenchOptions) -> None:
        self.options = options
        self.keys: list[PodKey] = []
        self.namespaces: list[str] = []
        self.nodes: list[str] = []
        self.info: dict[str, Any] = {}

    def setup(self, reporter: Reporter) -> None:
        raise NotImplementedError

    def teardown(self, reporter: Reporter) -> None:
        """Undo what setup created."""

    def expected_count(self) -> int | None:
        """How many pods every contender must end up with (None: unknown)."""
        return len(self.keys) if self.is_simulator else None


def _pod_layout(options: BenchOptions) -> tuple[list[str], list[str], list[PodKey]]:
    namespaces = [f"ns-{k}" for k in range(options.namespaces)]
    nodes = [f"kwok-node-{k}" for k in range(options.nodes)]
    keys = [(namespaces[i % options.namespaces], f"pod-{i}") for i in range(options.pods)]
    return namespaces, nodes, keys


SIM_SWITCH_INTERVAL = 0.0005
"""GIL switch interval (s) of this process while it hosts the simulator (CPython's
default is 0.005). The simulator's writer thread and its server thread share this
process; with the default, an event committed while the writer holds the GIL can wait
up to 5 ms before the server thread sends it, which the latency workload would charge
to the contender. A real API server has no such delay. Contenders keep the default."""


class SimTarget(Target):
    """The embedded simulator, populated with kwok-style namespaces, nodes and pods.

    While it runs, this process uses :data:`SIM_SWITCH_INTERVAL` as its GIL switch
    interval (restored at teardown).
    """

    is_simulator = True

    def setup(self, reporter: Reporter) -> None:
        from fastinformer.sim import Simulator
        from fastinformer.sim.populate import make_namespace, make_node, make_pod

        o = self.options
        self.namespaces, self.nodes, self.keys = _pod_layout(o)
        history = max(100_000, 2 * o.burst + int(o.events_per_second * o.duration) + 1000)
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SIM_SWITCH_INTERVAL)
        self.info["switch_interval"] = SIM_SWITCH_INTERVAL
        self.sim = Simulator(seed=o.seed, history=history, tls=o.tls)
        self.info["tls"] = o.tls
        self.sim.start()
        self.kubeconfig = self.sim.kubeconfig_path
        store = self.sim.store
        started = time.perf_counter()
        existing = {s.name for s in store.page(store.resolve("namespaces")).items}
        store.load("namespaces", [make_namespace(n) for n in self.namespaces if n not in existing])
        store.load("nodes", [make_node(k, o.seed) for k in range(o.nodes)])
        chunk = 2000
        with reporter.phase(f"populating the simulator with {o.pods:,} pods", o.pods) as advance:
            for begin in range(0, o.pods, chunk):
                end = min(begin + chunk, o.pods)
                gc_was = gc.isenabled()
                gc.disable()
                try:
                    pods = [make_pod(i, self.nodes[i % o.nodes], self.keys[i][0], o.seed)
                            for i in range(begin, end)]
                    store.load("pods", pods)
                finally:
                    if gc_was:
                        gc.enable()
                advance(end - begin)
        gc.collect()
        gc.freeze()  # the simulator's objects live to the end: keep the GC off them
        self.info["populate_seconds"] = time.perf_counter() - started
        self.info["url"] = self.sim.url
        self.writer = SimWriter(self.sim)

    def teardown(self, reporter: Reporter) -> None:
        self.sim.stop()
        gc.unfreeze()
        sys.setswitchinterval(self._switch_interval)


class ClusterTarget(Target):
    """A real cluster from ``--kubeconfig``/``--context``; with ``--populate`` kwok-style
    nodes and pods are created first (and removed at the end) and may be written to."""

    def setup(self, reporter: Reporter) -> None:
        from fastinformer.transport import Transport

        o = self.options
        assert o.kubeconfig is not None
        self.kubeconfig = o.kubeconfig
        self.context = o.context
        self.namespaces, self.nodes, keys = _pod_layout(o)
        self.populated = False
        if not o.populate:
            self.keys = []
            return
        from fastinformer.sim.populate import HttpPopulator, PopulateProgress, generate

        population = generate(o.nodes, o.pods, o.namespaces, o.seed)
        total = len(population.namespaces) + len(population.nodes) + len(population.pods)
        with reporter.phase(f"creating {o.pods:,} pods and {o.nodes} nodes", total) as advance:

            def progress(_: PopulateProgress) -> None:
                advance(1)

            self.populator = HttpPopulator(kubeconfig=o.kubeconfig, context=o.context,
                                           progress=progress)
            self.populated = True
            result = self.populator.populate(population)
        self.info["populate"] = asdict(result)
        self.keys = keys
        self.writer = HttpWriter(Transport.from_kubeconfig(o.kubeconfig, o.context))

    def expected_count(self) -> int | None:
        return None

    def teardown(self, reporter: Reporter) -> None:
        if self.writer is not None:
            self.writer.close()
        if getattr(self, "populated", False):
            with reporter.phase("removing the populated pods, nodes and namespaces"):
                self.info["cleanup"] = self.populator.cleanup()
            self.populator.close()


# Contender processes ----------------------------------------------------------------------


class ContenderProcess:
    """One contender's process and its JSON-lines conversation (see ``contender.py``)."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            text=True, bufsize=1,
        )
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # e.g. a profiler's own output
            if isinstance(message, dict) and "event" in message:
                self._events.put(message)
        self._events.put(None)

    def send(self, cmd: str, **fields: Any) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        stdin.flush()

    def expect(self, event: str, timeout: float) -> dict[str, Any]:
        """The next reply, which must be ``event``; BenchError otherwise or on timeout."""
        try:
            message = self._events.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"no {event!r} within {timeout:g} s") from None
        if message is None:
            raise BenchError(f"the process exited (code {self.proc.wait()}) before {event!r}")
        if message["event"] != event:
            raise BenchError(message.get("message") or f"expected {event!r}, got {message}")
        return message

    def call(self, cmd: str, reply: str, within: float, **fields: Any) -> dict[str, Any]:
        """Send ``cmd`` and wait at most ``within`` seconds for the ``reply``."""
        self.send(cmd, **fields)
        return self.expect(reply, within)

    def close(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            with suppress(BenchError, OSError):
                self.call("stop", "stopped", within=10.0)
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout)
            except (subprocess.TimeoutExpired, OSError):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# The run ----------------------------------------------------------------------------------


def _environment(options: BenchOptions) -> dict[str, Any]:
    from importlib import metadata

    from fastinformer import __version__
    from fastinformer._compat import IS_ACCELERATED
    from fastinformer.bench.measure import rss_source

    versions: dict[str, str | None] = {}
    for dist in ("kubernetes", "msgspec", "orjson", "urllib3", "aiohttp", "rich", "matplotlib"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    repo = Path(__file__).resolve().parents[2]
    commit = _git(repo, "rev-parse", "HEAD")
    dirty = _git(repo, "status", "--porcelain")
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "fastinformer": __version__,
        "compiled_core": IS_ACCELERATED,
        "versions": versions,
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "command_line": options.command_line,
        "seed": options.seed,
        "rss_source": rss_source(),
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def default_out_dir() -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("bench-results") / stamp


def _contender_argv(
    name: str, target: Target, options: BenchOptions, cpus: set[int] | None = None
) -> list[str]:
    argv = [sys.executable, "-m", "fastinformer.bench.contender", name,
            "--kubeconfig", target.kubeconfig, "--sync-timeout", str(options.sync_timeout)]
    if target.context:
        argv += ["--context", target.context]
    if cpus:
        argv += ["--cpus", ",".join(str(c) for c in sorted(cpus))]
    return argv


def split_cpus(cpus: set[int]) -> tuple[set[int], set[int]] | None:
    """``(this process's CPUs, the contenders' CPUs)``: the highest-numbered allowed CPU
    for the contender, the others for the orchestrator (and the simulator it hosts);
    None with fewer than two CPUs."""
    if len(cpus) < 2:
        return None
    contender = {max(cpus)}
    return set(cpus) - contender, contender


class Run:
    """One ``fastinformer bench`` invocation."""

    def __init__(self, options: BenchOptions, out_dir: Path, reporter: Reporter) -> None:
        self.o = options
        self.out = out_dir
        self.reporter = reporter
        self.notes: list[str] = []
        self.rng = random.Random(options.seed)
        self.contender_cpus: set[int] | None = None

    def run(self) -> dict[str, Any]:
        o = self.o
        self.out.mkdir(parents=True, exist_ok=True)
        target: Target = ClusterTarget(o) if o.kubeconfig else SimTarget(o)
        results: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "environment": _environment(o),
            "options": {k: v for k, v in asdict(o).items() if k != "command_line"},
            "baseline": BASELINE,
            "contenders": {},
            "notes": self.notes,
        }
        restore = self._pin()
        results["environment"]["affinity"] = None if restore is None else {
            "orchestrator": sorted(os.sched_getaffinity(0)),
            "contenders": sorted(self.contender_cpus or ()),
        }
        try:
            target.setup(self.reporter)
            results["target"] = {"kind": "simulator" if target.is_simulator else "cluster",
                                 **target.info}
            self._prepare_pods(target, results["target"])
            for name in o.contenders:
                results["contenders"][name] = self._run_contender(name, target)
            if o.profile:
                results["profile"] = self._profile(target)
        finally:
            target.teardown(self.reporter)
            results.setdefault("target", {}).update(target.info)
            if restore is not None:
                os.sched_setaffinity(0, restore)
        results["environment"]["load_average_end"] = (
            list(os.getloadavg()) if hasattr(os, "getloadavg") else None
        )
        return results

    def _pin(self) -> set[int] | None:
        """With ``pin`` (``--pin``) and two CPUs or more: this thread, and so the
        simulator's threads started after it, on all CPUs but one; each contender on that
        one (like pyperf's ``--affinity``). A contender's threads share the GIL, so one CPU
        costs it no parallelism, and nothing else competes for that CPU's caches. Returns
        the previous affinity, or None when nothing was changed."""
        if not self.o.pin or not hasattr(os, "sched_setaffinity"):
            return None
        previous = os.sched_getaffinity(0)
        split = split_cpus(previous)
        if split is None:
            self.notes.append("fewer than two CPUs: processes were not pinned")
            return None
        os.sched_setaffinity(0, split[0])
        self.contender_cpus = split[1]
        return previous

    def _mutating(self, target: Target) -> bool:
        return target.writer is not None and bool(MUTATING & set(self.o.workloads))

    def _prepare_pods(self, target: Target, info: dict[str, Any]) -> None:
        """Stamp every pod once, so that every contender lists pods of the same size."""
        if not self._mutating(target):
            if MUTATING & set(self.o.workloads):
                self.notes.append(
                    "throughput, latency and relist were skipped: they write to pods, and "
                    "nothing is written to a real cluster unless --populate is given")
            return
        assert target.writer is not None
        keys = target.keys
        with self.reporter.phase(f"stamping {len(keys):,} pods once (same size for all)",
                                 len(keys)) as advance:
            stats = target.writer.write_all(keys, advance)
        info["prestamp"] = stats.as_dict()

    # One contender ------------------------------------------------------------------------

    def _run_contender(self, name: str, target: Target) -> dict[str, Any]:
        cls = CONTENDERS[name]
        entry: dict[str, Any] = {"label": cls.label, "workloads": {}}
        done = entry["workloads"]
        log_path = self.out / f"contender-{name}.log"
        argv = _contender_argv(name, target, self.o, self.contender_cpus)
        proc = ContenderProcess(argv, log_path)
        try:
            proc.expect("ready", timeout=120.0)
            with self.reporter.phase(f"{cls.label}: initial sync"):
                synced = proc.call("sync", "synced", within=self.o.sync_timeout + 120.0)
            synced.pop("event", None)
            expected = target.expected_count()
            if SYNC in cls.workloads:
                done[SYNC] = synced
                if expected is not None and synced["objects"] != expected:
                    done[SYNC]["warning"] = f"{synced['objects']} objects, expected {expected}"
            for workload in ALL_WORKLOADS:
                if workload == SYNC:
                    continue
                if workload not in self.o.workloads:
                    continue
                if workload not in cls.workloads:
                    done[workload] = {"status": "n/a"}
                    continue
                reason = self._skip_reason(workload, target)
                if reason:
                    done[workload] = {"status": "skipped", "reason": reason}
                    continue
                try:
                    done[workload] = self._workload(workload, proc, target, cls.label, synced)
                except BenchError as exc:
                    done[workload] = {"status": "failed", "error": str(exc)}
        except BenchError as exc:
            done.setdefault(SYNC, {"status": "failed", "error": str(exc)})
            self.notes.append(f"{name}: {exc} (log: {log_path})")
        finally:
            proc.close()
        if SYNC not in self.o.workloads and SYNC in done:
            done.pop(SYNC)
        return entry

    def _skip_reason(self, workload: str, target: Target) -> str | None:
        if workload in MUTATING and target.writer is None:
            return "writes to pods: needs the simulator or --populate"
        if workload in SIMULATOR_ONLY and not target.is_simulator:
            return "needs the simulator's compaction control"
        return None

    def _workload(
        self, workload: str, proc: ContenderProcess, target: Target, label: str,
        synced: dict[str, Any],
    ) -> dict[str, Any]:
        if workload == THROUGHPUT:
            return self._throughput(proc, target, label)
        if workload == LATENCY:
            return self._latency(proc, target, label)
        if workload == LISTERS:
            return self._listers(proc, target, label)
        if workload == RELIST:
            return self._relist(proc, target, label, synced)
        raise BenchError(f"unknown workload {workload}")

    def _shuffled(self, target: Target, salt: int) -> list[PodKey]:
        keys = list(target.keys)
        random.Random(self.o.seed * 1_000_003 + salt).shuffle(keys)
        return keys

    def _throughput(self, proc: ContenderProcess, target: Target, label: str) -> dict[str, Any]:
        """``bursts`` bursts (each pod in a new random order); the figure is their median."""
        runs = [self._one_burst(proc, target, label, k) for k in range(self.o.bursts)]
        rates = [r["events_per_second"] for r in runs]
        median = statistics.median(rates) if None not in rates else None
        chosen = min(runs, key=lambda r: abs((r["events_per_second"] or 0) - (median or 0)))
        return {**chosen, "events_per_second": median,
                "complete": all(r["complete"] for r in runs),
                "simulator_limited": any(r["simulator_limited"] for r in runs),
                "bursts": rates}

    def _one_burst(
        self, proc: ContenderProcess, target: Target, label: str, k: int
    ) -> dict[str, Any]:
        assert target.writer is not None
        keys = self._shuffled(target, 1 + 1000 * k)[: self.o.burst]
        proc.call("arm", "armed", within=30.0)
        with self.reporter.phase(f"{label}: burst {k + 1} of {len(keys):,} updates",
                                 len(keys)) as advance:
            burst = target.writer.burst(keys, advance)
        with self.reporter.phase(f"{label}: handling the burst"):
            wait = max(60.0, len(keys) / 200.0)
            got = proc.call("collect", "collected", within=wait + 30, expect=len(keys),
                            timeout=wait)
        elapsed = got["last"] - burst.first_sent if got["count"] else 0.0
        result = {
            "events": len(keys),
            "handled": got["count"],
            "complete": got["complete"],
            "seconds": elapsed,
            "events_per_second": got["count"] / elapsed if elapsed > 0 else None,
            "server_write": burst.stats.as_dict(),
            "stalled_release": burst.stalled,
            "simulator_limited": burst.limited,
        }
        if burst.limited:
            self.notes.append(f"{label}: the burst was not fully committed when the watches "
                              "were released: the simulator limited this throughput figure")
        return result

    def _latency(self, proc: ContenderProcess, target: Target, label: str) -> dict[str, Any]:
        assert target.writer is not None
        keys = self._shuffled(target, 2)
        o = self.o
        total = max(1, int(o.events_per_second * o.duration))
        proc.call("arm", "armed", within=30.0)
        with self.reporter.phase(f"{label}: {o.events_per_second:g} updates/s for "
                                 f"{o.duration:g} s", total) as advance:
            stats = paced_writes(target.writer, keys, o.events_per_second, o.duration, advance)
        wait = max(30.0, o.duration * 3)
        got = proc.call("collect", "collected", within=wait + 30, expect=stats.writes,
                        timeout=wait)
        return {
            "writes": stats.as_dict(),
            "handled": got["count"],
            "complete": got["complete"],
            **got["latency"],
        }

    def _listers(self, proc: ContenderProcess, target: Target, label: str) -> dict[str, Any]:
        params = {
            "seed": self.o.seed,
            "labels": [f"app=app-{k}" for k in range(8)] + ["tier in (web,api)"],
        }
        with self.reporter.phase(f"{label}: lister queries"):
            got = proc.call("listers", "listers", within=self.o.lister_seconds * 10 + 60,
                            seconds=self.o.lister_seconds, params=params)
        got.pop("event", None)
        return got

    def _relist(
        self, proc: ContenderProcess, target: Target, label: str, synced: dict[str, Any]
    ) -> dict[str, Any]:
        writer = target.writer
        assert isinstance(writer, SimWriter)
        keys = self._shuffled(target, 4)[: min(RELIST_PODS, len(target.keys))]
        store = writer.sim.store
        first_rv = store.resource_version + 1
        predicted = {f"{ns}/{name}": str(first_rv + i) for i, (ns, name) in enumerate(keys)}
        timeout = max(60.0, float(synced["seconds"]) * 10 + 30)
        proc.call("await_state", "armed", within=30.0, expect=predicted,
                  count=len(target.keys), timeout=timeout)
        with self.reporter.phase(f"{label}: relist after 410 with a full cache"):
            t0, actual = writer.expire_watches(keys)
            if actual != predicted:
                raise BenchError("the simulator assigned unexpected resourceVersions")
            reached = proc.expect("state", timeout=timeout + 10)
        return {"seconds": reached["reached"] - t0, "changed": len(keys),
                "objects": len(target.keys)}

    # Profiling ----------------------------------------------------------------------------

    def _profile(self, target: Target) -> dict[str, Any]:
        """Run fastinformer-typed once more under ``py-spy record``; the flame graph goes
        next to the results (the measured figures above come from the unprofiled run)."""
        executable = py_spy()
        if executable is None:
            self.notes.append("--profile: py-spy is not installed (pip install py-spy)")
            return {"status": "skipped", "reason": "py-spy not found"}
        svg = self.out / f"flame-{BASELINE}.svg"
        command = _contender_argv(BASELINE, target, self.o, self.contender_cpus)
        argv = record_argv(executable, svg, command)
        proc = ContenderProcess(argv, self.out / f"profile-{BASELINE}.log")
        workloads: dict[str, Any] = {}
        try:
            proc.expect("ready", timeout=120.0)
            with self.reporter.phase("profiling fastinformer (typed) with py-spy"):
                synced = proc.call("sync", "synced", within=self.o.sync_timeout + 120.0)
                workloads[SYNC] = {"seconds": synced["seconds"]}
                if target.writer is not None and THROUGHPUT in self.o.workloads:
                    workloads[THROUGHPUT] = self._throughput(proc, target, "profile")
                if target.writer is not None and LATENCY in self.o.workloads:
                    workloads[LATENCY] = self._latency(proc, target, "profile")
        except BenchError as exc:
            workloads["error"] = str(exc)
        finally:
            proc.close(timeout=60.0)
        return {"flamegraph": svg.name if svg.exists() else None, "command": argv,
                "workloads": workloads}


def run_bench(
    options: BenchOptions, reporter: Reporter | None = None
) -> tuple[dict[str, Any], Path]:
    """Run everything ``options`` asks for; write nothing but the contender logs.

    Returns the results document and the output directory.
    """
    options.validate()
    out = Path(options.out) if options.out else default_out_dir()
    results = Run(options, out, reporter or Reporter()).run()
    return results, out

