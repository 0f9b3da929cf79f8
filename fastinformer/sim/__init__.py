"""An embedded Kubernetes API simulator (kwok-style) for tests, benchmarks and users' tests.

``Simulator`` runs it in a background thread; ``fastinformer sim serve`` from the shell.
Needs the ``sim`` extra (aiohttp, cryptography).
"""

from fastinformer.sim.faults import Faults
from fastinformer.sim.registry import Registry, ResourceType
from fastinformer.sim.server import DenyRule, RecordedRequest, SimConfig, SimServer
from fastinformer.sim.simulator import Simulator
from fastinformer.sim.status import StatusError
from fastinformer.sim.store import SimStore, StoredObject

__all__ = [
    "DenyRule",
    "Faults",
    "RecordedRequest",
    "Registry",
    "ResourceType",
    "SimConfig",
    "SimServer",
    "SimStore",
    "Simulator",
    "StatusError",
    "StoredObject",
]
