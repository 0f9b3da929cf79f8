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
    See :meth:`fastinformer.decode.ObjectDecoder.decode_event_reusing` for the memo.
    """

    def __init__(
        self,
        model: Callable[..., Any],
        names: tuple[str, ...],
        reusable: tuple[str, ...],
        decoders: tuple[Any, ...],
        missing: object,
        absent: object = None,
    ) -> None:
        if len(reusable) != len(decoders):
            raise ValueError("one decoder per reusable field is needed")
        if len(reusable) > REUSE_MAX_FIELDS:
            raise ValueError(f"at most {REUSE_MAX_FIELDS} reusable fields")
        unknown = set(reusable) - set(names)
        if unknown:
            raise ValueError(f"reusable fields not among the names: {sorted(unknown)}")
        self.model = model
        self.names = tuple(names)
        self.reusable = tuple(reusable)
        self._decode = tuple(d.decode for d in decoders)
        self.missing = missing
        self.absent = absent

    def __repr__(self) -> str:
        return f"<FieldReuser reusable={self.reusable!r}>"

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
        (absent without one), in the order of ``reusable``."""
        if cut is not None and len(cut.spans) != len(self.reusable):
            raise ValueError(
                f"the cut has {len(cut.spans)} spans for {len(self.reusable)} reusable fields"
            )
        previous = memo.get(ident)
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
                digest = hash(bytes(raw))
                if previous is not None and previous[0][i] == digest:
                    value = previous[1][i]
                else:
                    value = self._decode[i](raw)
            hashes.append(digest)
            values.append(value)
            fields[name] = value
        obj = self.model(**fields)
        if forget:
            memo.pop(ident, None)
        else:
            memo[ident] = (tuple(hashes), tuple(values))
        return obj
