"""fastinformer.bench.contender: the JSON-lines conversation, with a scripted contender."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from fastinformer.bench.contender import serve
from fastinformer.bench.contenders import (
    CONTENDERS,
    Contender,
    ContenderError,
    UpdateCounter,
    wait_until,
)
from fastinformer.bench.workloads import STAMP_ANNOTATION


class Scripted(Contender):
    name = "scripted"

    def __init__(self) -> None:
        super().__init__("unused", None, 1.0)
        self.cache: dict[str, str] = {}
        self.closed = False

    def sync(self) -> int:
        self.cache = {f"ns/p{i}": str(i) for i in range(3)}
        self.counter.record({STAMP_ANNOTATION: "0"})  # not armed yet: ignored
        return len(self.cache)

    def cached_count(self) -> int:
        return len(self.cache)

    def cached_resource_version(self, key: str) -> str | None:
        return self.cache.get(key)

    def close(self) -> None:
        self.closed = True


def _talk(contender: Contender, *commands: dict[str, Any]) -> list[dict[str, Any]]:
    stdin = io.StringIO("".join(json.dumps(c) + "\n" for c in commands))
    stdout = io.StringIO()
    assert serve(contender, stdin, stdout) == 0
    return [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_sync_reports_objects_time_and_memory() -> None:
    replies = _talk(Scripted(), {"cmd": "sync"}, {"cmd": "stop"})
    assert [r["event"] for r in replies] == ["ready", "synced", "stopped"]
    synced = replies[1]
    assert synced["objects"] == 3 and synced["seconds"] >= 0
    assert synced["rss_after"] > 0 and synced["peak_rss"] > 0


def test_collect_times_out_with_what_was_counted() -> None:
    contender = Scripted()
    replies = _talk(contender, {"cmd": "arm"},
                    {"cmd": "collect", "expect": 1, "timeout": 0.01}, {"cmd": "stop"})
    collected = replies[2]
    assert collected["event"] == "collected"
    assert collected["count"] == 0 and not collected["complete"]
    assert contender.closed


def test_await_state_answers_once_the_cache_matches() -> None:
    replies = _talk(Scripted(), {"cmd": "sync"},
                    {"cmd": "await_state", "expect": {"ns/p1": "1"}, "count": 3, "timeout": 1})
    assert [r["event"] for r in replies[2:]] == ["armed", "state"]


def test_failures_and_unknown_commands_answer_error_and_go_on() -> None:
    replies = _talk(Scripted(), {"cmd": "listers", "seconds": 0.1, "params": {}},
                    {"cmd": "dance"}, {"cmd": "stop"})
    assert replies[1]["event"] == "error" and "has no listers" in replies[1]["message"]
    assert replies[2] == {"event": "error", "message": "unknown command 'dance'"}
    assert replies[3]["event"] == "stopped"


def test_counter_records_only_while_armed_with_latency_from_the_stamp() -> None:
    counter = UpdateCounter()
    counter.record({STAMP_ANNOTATION: "1.0"})
    assert counter.count == 0
    counter.arm()
    counter.record({STAMP_ANNOTATION: "1.0"})
    counter.record(None)
    counter.record_stamp(None)
    assert counter.count == 3 and len(counter.latencies) == 1
    assert counter.latencies[0] > 0 and counter.first <= counter.last


def test_wait_until_raises_after_the_timeout() -> None:
    with pytest.raises(ContenderError, match="never: not reached"):
        wait_until(lambda: False, 0.01, "never")


def test_every_contender_names_its_workloads_and_label() -> None:
    for name, cls in CONTENDERS.items():
        assert cls.name == name and cls.label and cls.workloads
    assert CONTENDERS["limit"].workloads == {"sync"}
    assert "listers" in CONTENDERS["fastinformer-typed"].workloads
    assert "listers" not in CONTENDERS["kubernetes-informer"].workloads


def test_the_contender_process_freezes_what_prepare_allocated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr("fastinformer.bench.contender.gc.freeze", lambda: frozen.append(True))
    _talk(Scripted(), {"cmd": "stop"})
    assert frozen == []  # serve() called in-process (as here) leaves the GC alone
    stdin = io.StringIO(json.dumps({"cmd": "stop"}) + "\n")
    assert serve(Scripted(), stdin, io.StringIO(), freeze_gc=True) == 0
    assert frozen == [True]
