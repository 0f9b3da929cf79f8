"""``fastinformer bench`` argument parsing and option validation."""

from __future__ import annotations

import pytest

from fastinformer.bench.runner import BenchError, BenchOptions
from fastinformer.bench.workloads import ALL_WORKLOADS
from fastinformer.cli import build_parser


def test_defaults_are_ten_thousand_pods_on_a_hundred_nodes_everything_on() -> None:
    args = build_parser().parse_args(["bench"])
    assert (args.pods, args.nodes, args.namespaces) == (10_000, 100, 10)
    assert args.events_per_second == 5000.0
    assert args.workloads == ALL_WORKLOADS
    assert "fastinformer-typed" in args.contenders and args.out is None


def test_sim_subcommand_is_still_registered() -> None:
    args = build_parser().parse_args(["sim", "serve", "--pods", "3"])
    assert args.pods == 3


def test_comma_separated_subsets_are_parsed() -> None:
    args = build_parser().parse_args(
        ["bench", "--workloads", "sync,relist", "--contenders", "limit,fastinformer-dict"])
    assert args.workloads == ("sync", "relist")
    assert args.contenders == ("limit", "fastinformer-dict")


@pytest.mark.parametrize("argv", [
    ["bench", "--workloads", "sync,nope"],
    ["bench", "--contenders", "nope"],
    ["bench", "--pods", "0"],
    ["bench", "--duration", "-1"],
])
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "bench" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (BenchOptions(context="x"), "--context needs --kubeconfig"),
    (BenchOptions(populate=True), "--populate applies to --kubeconfig"),
    (BenchOptions(tls=True, kubeconfig="k"), "--tls applies to the simulator"),
    (BenchOptions(workloads=("nope",)), "unknown workloads"),
    (BenchOptions(burst=0), "--burst must be at least 1"),
])
def test_inconsistent_options_are_refused(options: BenchOptions, message: str) -> None:
    with pytest.raises(BenchError, match=message):
        options.validate()


def test_cpus_split_one_for_the_contender_and_the_rest_for_the_simulator() -> None:
    from fastinformer.bench.runner import split_cpus

    assert split_cpus({0}) is None
    assert split_cpus({0, 1}) == ({0}, {1})
    assert split_cpus({2, 5, 7}) == ({2, 5}, {7})


def test_contenders_are_told_their_cpus_on_the_command_line() -> None:
    from fastinformer.bench.runner import _contender_argv

    class Target:
        kubeconfig = "/k"
        context = None

    argv = _contender_argv("limit", Target(), BenchOptions(), {3})  # type: ignore[arg-type]
    assert argv[argv.index("--cpus") + 1] == "3"
    assert "--cpus" not in _contender_argv("limit", Target(), BenchOptions())  # type: ignore[arg-type]


def test_pin_is_passed_through(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastinformer.bench import runner
    from fastinformer.cli import main

    seen: list[BenchOptions] = []

    def fake_run(options: BenchOptions, reporter: object) -> None:
        seen.append(options)
        raise BenchError("stop here")

    monkeypatch.setattr(runner, "run_bench", fake_run)
    assert main(["bench", "--pin", "--quiet"]) == 2
    assert main(["bench", "--quiet"]) == 2
    assert [o.pin for o in seen] == [True, False]
