"""SharedInformerFactory: at most one informer per resource, sharing one HTTP transport.

``informer_for(resource)`` returns the same informer for the same resource; ``start()``
starts every informer not yet started; ``shutdown()`` stops them all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from fastinformer.clock import REAL_CLOCK, Clock
from fastinformer.decode import DecodeMode, decoder_for
from fastinformer.informer import SharedIndexInformer, Transform
from fastinformer.listers import Lister
from fastinformer.listwatch import ListWatch
from fastinformer.protocol import ListOptions
from fastinformer.resources import Resource, resource_for
from fastinformer.store import IndexFunc
from fastinformer.transport import Transport

TweakListOptions = Callable[[ListOptions], ListOptions | None]


class SharedInformerFactory:
    """Creates and owns shared informers for one cluster (and optionally one namespace).

    ``api_client_or_config``: a ``kubernetes.client.ApiClient``, a ``Configuration``, a
    :class:`~fastinformer.transport.Transport`, or ``None`` (kubeconfig, then in-cluster).
    ``mode``: ``"typed"`` (default for built-in kinds) or ``"dict"`` (always used for
    custom resources). ``tweak_list_options``, ``transform`` and ``gc_freeze`` (see
    :class:`~fastinformer.informer.SharedIndexInformer`) apply to every informer.
    """

    def __init__(
        self,
        api_client_or_config: Any = None,
        namespace: str | None = None,
        resync_period: float = 0.0,
        tweak_list_options: TweakListOptions | None = None,
        transform: Transform | None = None,
        *,
        mode: str | None = None,
        keep_managed_fields: bool = False,
        clock: Clock = REAL_CLOCK,
        reflector_options: Mapping[str, Any] | None = None,
        gc_freeze: bool = True,
    ) -> None:
        if mode not in (None, "typed", "dict"):
            raise ValueError(f"mode must be 'typed' or 'dict', not {mode!r}")
        if resync_period < 0:
            raise ValueError("resync_period must be >= 0")
        self._transport = (
            api_client_or_config
            if isinstance(api_client_or_config, Transport)
            else Transport(api_client_or_config)
        )
        self.namespace = namespace
        self.resync_period = resync_period
        self._tweak = tweak_list_options
        self._transform = transform
        self._mode = mode
        self._keep_managed_fields = keep_managed_fields
        self._clock = clock
        self._reflector_options = dict(reflector_options or {})
        self._gc_freeze = gc_freeze
        self._lock = threading.Lock()
        self._informers: dict[Resource, SharedIndexInformer] = {}
        self._started: set[Resource] = set()
        self._shut_down = False

    @property
    def transport(self) -> Transport:
        """The HTTP transport shared by every informer of this factory."""
        return self._transport

    def informer_for(
        self,
        resource: str | Resource,
        *,
        indexers: Mapping[str, IndexFunc] | None = None,
        resync_period: float | None = None,
    ) -> SharedIndexInformer:
        """The informer of ``resource`` ("pods", "apps/v1/deployments", a Resource...).

        The first call creates it; later calls return the same informer (extra
        ``indexers`` are added to it).
        """
        res = resource_for(resource)
        with self._lock:
            if self._shut_down:
                raise RuntimeError("the factory has been shut down")
            inf = self._informers.get(res)
            if inf is None:
                inf = self._new_informer(res, indexers, resync_period)
                self._informers[res] = inf
                return inf
        if indexers:
            known = inf.get_indexer().get_indexers()
            missing = {k: v for k, v in indexers.items() if k not in known}
            if missing:
                inf.add_indexers(missing)
        return inf

    def _new_informer(
        self,
        res: Resource,
        indexers: Mapping[str, IndexFunc] | None,
        resync_period: float | None,
    ) -> SharedIndexInformer:
        mode: DecodeMode = "dict"
        if self._mode == "typed" or (self._mode is None and _is_builtin(res)):
            mode = "typed"
        decoder = decoder_for(res, mode=mode, keep_managed_fields=self._keep_managed_fields)
        lw = ListWatch(
            self._transport,
            res,
            namespace=self.namespace if res.namespaced else None,
            tweak_list_options=self._tweak,
            decoder=decoder,
            reuse_unchanged=self._transform is None,  # a transform may mutate in place
        )
        return SharedIndexInformer(
            lw,
            resync_period=self.resync_period if resync_period is None else resync_period,
            indexers=indexers,
            transform=self._transform,
            name=res.plural if not res.group else f"{res.plural}.{res.group}",
            clock=self._clock,
            reflector_options=self._reflector_options,
            gc_freeze=self._gc_freeze,
        )

    def lister_for(self, resource: str | Resource) -> Lister:
        """A lister over the cache of ``resource``'s informer."""
        res = resource_for(resource)
        return Lister(self.informer_for(res).get_indexer(), res.plural, res.group)

    # Accessors for common kinds.
    def pods(self) -> SharedIndexInformer:
        """The pods informer."""
        return self.informer_for("pods")

    def nodes(self) -> SharedIndexInformer:
        """The nodes informer."""
        return self.informer_for("nodes")

    def namespaces(self) -> SharedIndexInformer:
        """The namespaces informer."""
        return self.informer_for("namespaces")

    def config_maps(self) -> SharedIndexInformer:
        """The configmaps informer."""
        return self.informer_for("configmaps")

    def services(self) -> SharedIndexInformer:
        """The services informer."""
        return self.informer_for("services")

    def deployments(self) -> SharedIndexInformer:
        """The apps/v1 deployments informer."""
        return self.informer_for("apps/v1/deployments")

    def replica_sets(self) -> SharedIndexInformer:
        """The apps/v1 replicasets informer."""
        return self.informer_for("apps/v1/replicasets")

    def leases(self) -> SharedIndexInformer:
        """The coordination.k8s.io/v1 leases informer."""
        return self.informer_for("coordination.k8s.io/v1/leases")

    def start(self) -> None:
        """Start every informer created so far that is not running yet."""
        with self._lock:
            if self._shut_down:
                raise RuntimeError("the factory has been shut down")
            todo = [(r, i) for r, i in self._informers.items() if r not in self._started]
            self._started.update(r for r, _ in todo)
        for _, inf in todo:
            inf.start()

    def wait_for_cache_sync(self, timeout: float | None = None) -> dict[Resource, bool]:
        """Wait for every started informer; map each resource to whether it synced in time."""
        with self._lock:
            started = [(r, self._informers[r]) for r in self._started]
        deadline = None if timeout is None else self._clock.now() + timeout
        result: dict[Resource, bool] = {}
        for res, inf in started:
            left = None if deadline is None else max(0.0, deadline - self._clock.now())
            result[res] = inf.wait_for_cache_sync(left)
        return result

    def shutdown(self) -> None:
        """Stop every informer and close the transport. Idempotent."""
        with self._lock:
            self._shut_down = True
            infs = list(self._informers.values())
        for inf in infs:
            inf.stop()
        self._transport.close()

    def __enter__(self) -> SharedInformerFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _is_builtin(res: Resource) -> bool:
    try:
        return resource_for(res.plural if not res.group else f"{res.plural}.{res.group}") == res
    except ValueError:
        return False
