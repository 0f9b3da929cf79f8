"""Pure-Python twin of ``_core_reuse.pxi``: reusing a decoded object's unchanged fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastinformer._py_scan import CutEvent

__all__ = ["REUSE_MAX_FIELDS", "FieldReuser"]

REUSE_MAX_FIELDS = 8
"""The most reusable fields a :class:`FieldReuser` takes."""


class FieldReuser:
    """Builds ``model`` objects from decoded shells, reusing unchanged fields.

    ``names``: every field of ``model`` (attribute names, also those of the shell);
    ``reusable``: the names of the fields the shell holds as raw JSON (``msgspec.Raw``),
    ``decoders`` decoding each of them (``decode(buffer) -> value``), ``missing`` the raw
    value a shell holds for an absent field and ``absent`` the value ``model`` then gets.
    ``inner``: the name of a field holding a struct (``"metadata"``) whose fields
    ``inner_names`` are reused too, decoded by ``inner_decoders`` when they change; only
    from a :class:`CutEvent` (their spans follow those of ``reusable``). After one of
    them listed in ``inner_shared`` was decoded, ``share(struct)`` is called (the
    struct's ``__post_init__``, which shares their strings). At most ``REUSE_MAX_FIELDS``
    fields in all. See :meth:`fastinformer.decode.ObjectDecoder.decode_event_reusing`
    for the memo.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        names: tuple[str, ...],
        reusable: tuple[str, ...],
        decoders: tuple[Any, ...],
        missing: object,
        absent: object = None,
        *,
        inner: str | None = None,
        inner_names: tuple[str, ...] = (),
        inner_decoders: tuple[Any, ...] = (),
        inner_shared: tuple[str, ...] | frozenset[str] = (),
        share: Callable[[Any], object] | None = None,
    ) -> None:
        if len(reusable) != len(decoders) or len(inner_names) != len(inner_decoders):
            raise ValueError("one decoder per reusable field is needed")
        if len(reusable) + len(inner_names) > REUSE_MAX_FIELDS:
            raise ValueError(f"at most {REUSE_MAX_FIELDS} reusable fields")
        unknown = set(reusable) - set(names)
        if unknown:
            raise ValueError(f"reusable fields not among the names: {sorted(unknown)}")
        for name in names + inner_names:
            if not isinstance(name, str):
                raise TypeError(f"field names must be str, not {type(name).__name__}")
        if inner_names and (inner not in names or inner in reusable):
            raise ValueError(f"inner must name a field that is not reusable, not {inner!r}")
        if not set(inner_shared) <= set(inner_names):
            raise ValueError("inner_shared must be among inner_names")
        if share is not None and not callable(share):
            raise TypeError(f"share must be callable, not {type(share).__name__}")
        self.model = model
        self.names = tuple(names)
        self.reusable = tuple(reusable)
        self._decode = tuple(d.decode for d in decoders)
        self.missing = missing
        self.absent = absent
        self.inner = inner if inner_names else None
        self.inner_names = tuple(inner_names)
        self._inner_decode = tuple(d.decode for d in inner_decoders)
        self._inner_shared = tuple(name in inner_shared for name in inner_names)
        self._share = share

    def __repr__(self) -> str:
        return f"<FieldReuser reusable={self.reusable!r} inner_names={self.inner_names!r}>"

    def build(
        self,
        shell: Any,
        ident: Any,
        memo: dict[Any, Any],
        forget: bool,
        cut: CutEvent | None = None,
    ) -> Any:
        """``model(**fields of shell)`` where each reusable field is the value recorded in
        ``memo[ident]`` if the hash of its raw bytes is the recorded one, else decoded.
        Then records the new hashes and values under ``ident``, or, with ``forget``,
        removes ``ident`` from ``memo``. A decoding error propagates; ``memo`` is then
        unchanged. With ``cut``, the :class:`CutEvent` of the line ``shell`` was decoded
        from (its ``shell``), a reusable field's raw bytes are its span in ``cut.line``
        (absent without one), in the order of ``reusable`` then ``inner_names``; an inner
        field with a span is set on the shell's inner struct, one without keeps the value
        decoded there (and is not reused next time)."""
        n, m = len(self.reusable), len(self.inner_names)
        if cut is not None and len(cut.spans) != n + m:
            raise ValueError(f"the cut has {len(cut.spans)} spans for {n + m} reusable fields")
        found = memo.get(ident)
        previous = found if found is not None and len(found[0]) == n + m else None
        fields = {name: getattr(shell, name) for name in self.names}
        hashes: list[int] = []
        values: list[Any] = []
        for i, name in enumerate(self.reusable):
            raw: Any
            if cut is None:
                raw = fields[name]
                absent = raw is self.missing
            else:
                span = cut.spans[i]
                absent = span is None
                raw = None if span is None else cut.line[span[0] : span[1]]
            if absent:
                digest, value = 0, self.absent
            else:
                digest = hash(bytes(raw)) or 1
                value, _ = _reused_or_decoded(previous, i, digest, self._decode[i], raw)
            hashes.append(digest)
            values.append(value)
            fields[name] = value
        inner = fields[self.inner] if self.inner is not None else None
        if inner is not None:
            reshare = False
            for i, name in enumerate(self.inner_names):
                span = None if cut is None else cut.spans[n + i]
                if cut is None or span is None:
                    hashes.append(0)
                    values.append(getattr(inner, name))
                    continue
                raw = cut.line[span[0] : span[1]]
                digest = hash(raw) or 1
                value, decoded = _reused_or_decoded(
                    previous, n + i, digest, self._inner_decode[i], raw
                )
                reshare = reshare or (decoded and self._inner_shared[i])
                setattr(inner, name, value)
                hashes.append(digest)
                values.append(value)
            if reshare and self._share is not None:
                self._share(inner)
        else:
            hashes += [0] * m
            values += [None] * m
        obj = self.model(**fields)
        if forget:
            memo.pop(ident, None)
        else:
            memo[ident] = (tuple(hashes), tuple(values))
        return obj


def _reused_or_decoded(
    previous: tuple[tuple[int, ...], tuple[Any, ...]] | None,
    k: int,
    digest: int,
    decode: Callable[[Any], Any],
    raw: Any,
) -> tuple[Any, bool]:
    """Value ``k`` of ``previous`` if its digest there is ``digest``, else ``decode(raw)``;
    and whether it was decoded."""
    if previous is not None and previous[0][k] == digest:
        return previous[1][k], False
    return decode(raw), True
