"""``fastinformer bench``: fastinformer against the other ways Python keeps a cache of
Kubernetes objects, each contender in its own process, on the embedded simulator or a
real cluster.

Modules: :mod:`.cli` (the command), :mod:`.runner` (orchestration), :mod:`.workloads`
(what is written and when), :mod:`.contenders` and :mod:`.contender` (the contenders and
their process), :mod:`.measure` (RSS, percentiles), :mod:`.report` (tables, JSON, charts,
targets), :mod:`.profile` (py-spy).
"""

from fastinformer.bench.runner import BenchError, BenchOptions, run_bench

__all__ = ["BenchError", "BenchOptions", "run_bench"]
