"""Query parameters of LIST and WATCH requests, validated with the server's wording, and the
resourceVersion rules deciding where a list is served from.

The rules follow kube-apiserver (1.26+ with the watch cache on): ``resourceVersion=0`` and
``NotOlderThan`` without ``limit`` are served from the "cache" (current state, ``limit``
ignored, waiting for a future resourceVersion then 504); ``""``, ``Exact``, a continue token,
or a non-zero resourceVersion with ``limit`` read "storage" (paginated, consistent at the
list's resourceVersion; 410 when that version was compacted).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastinformer.sim import status as st
from fastinformer.sim.tokens import decode_continue, encode_continue

EXACT = "Exact"
NOT_OLDER_THAN = "NotOlderThan"

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(query: Mapping[str, str], name: str) -> bool | None:
    """Go's ``strconv.ParseBool`` of one parameter; None when absent."""
    value = query.get(name)
    if value is None:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise st.bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _parse_int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise st.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def parse_resource_version(value: str) -> int:
    try:
        rv = int(value)
    except ValueError:
        raise st.bad_request(f"invalid resource version: {value!r}") from None
    if rv < 0:
        raise st.bad_request(f"invalid resource version: {value!r}")
    return rv


@dataclass(frozen=True)
class Options:
    """The list/watch parameters of one request (``None``: not sent)."""

    resource_version: str | None
    match: str | None
    limit: int
    continue_: str | None
    label_selector: str
    field_selector: str
    watch: bool
    allow_bookmarks: bool
    send_initial_events: bool | None
    timeout_seconds: int | None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Options:
        """Parse and validate; raises the server's 400/422 StatusErrors."""
        opts = cls(
            resource_version=query.get("resourceVersion"),
            match=query.get("resourceVersionMatch") or None,
            limit=max(_parse_int(query, "limit") or 0, 0),
            continue_=query.get("continue") or None,
            label_selector=query.get("labelSelector", ""),
            field_selector=query.get("fieldSelector", ""),
            watch=bool(parse_bool(query, "watch")),
            allow_bookmarks=bool(parse_bool(query, "allowWatchBookmarks")),
            send_initial_events=parse_bool(query, "sendInitialEvents"),
            timeout_seconds=_parse_int(query, "timeoutSeconds"),
        )
        opts._validate()
        return opts

    def _validate(self) -> None:
        if self.match not in (None, EXACT, NOT_OLDER_THAN):
            raise st.StatusError(
                422, "Invalid",
                f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported '
                f'value: "{self.match}": supported values: "Exact", "NotOlderThan"',
                details={"group": "meta.k8s.io", "kind": "ListOptions", "causes": [
                    {"reason": "FieldValueNotSupported", "field": "resourceVersionMatch",
                     "message": f'Unsupported value: "{self.match}": supported values: '
                                '"Exact", "NotOlderThan"'}]},
            )
        if self.send_initial_events is not None:
            if not self.watch:
                raise st.list_options_invalid(
                    "sendInitialEvents", "sendInitialEvents is forbidden for list"
                )
            if self.match != NOT_OLDER_THAN:
                raise st.list_options_invalid(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                )
            if self.send_initial_events and not self.allow_bookmarks:
                raise st.list_options_invalid(
                    "allowWatchBookmarks",
                    "allowWatchBookmarks must be set to true when sendInitialEvents is true",
                )
            return
        if self.match is not None:
            if self.watch:
                raise st.list_options_invalid(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden for watch"
                )
            if not self.resource_version:
                raise st.list_options_invalid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            if self.continue_:
                raise st.list_options_invalid(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                )
            if self.match == EXACT and self.resource_version == "0":
                raise st.list_options_invalid(
                    "resourceVersionMatch",
                    'resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )


@dataclass(frozen=True)
class ListPlan:
    """Where a list is served from.

    ``from_cache``: current state, unpaginated, after waiting for ``wait_for`` (when set).
    Otherwise storage at ``at_rv`` (None: latest), keys after ``start_key``, ``limit``.
    """

    from_cache: bool
    wait_for: int | None
    at_rv: int | None
    start_key: str | None
    limit: int


def plan_list(opts: Options, current_rv: int, compacted_rv: int) -> ListPlan:
    """Decide how to serve a LIST; raises 400/410/504 like the real server."""
    rv = opts.resource_version or ""
    if opts.continue_:
        if rv not in ("", "0"):
            raise st.bad_request("specifying resource version is not allowed when using continue")
        start, token_rv = decode_continue(opts.continue_)
        if token_rv == -1:
            return ListPlan(False, None, None, start, opts.limit)
        if token_rv < compacted_rv:
            raise st.expired(
                st.INCONSISTENT_CONTINUE, list_meta={"continue": encode_continue(start, -1)}
            )
        if token_rv > current_rv:
            raise st.too_large_resource_version(token_rv, current_rv)
        return ListPlan(False, None, token_rv, start, opts.limit)
    if rv == "":
        return ListPlan(False, None, None, None, opts.limit)
    requested = parse_resource_version(rv)
    if rv == "0" or (opts.match in (None, NOT_OLDER_THAN) and opts.limit == 0):
        return ListPlan(True, requested if requested > current_rv else None, None, None, 0)
    if opts.match == NOT_OLDER_THAN:
        if requested > current_rv:
            raise st.too_large_resource_version(requested, current_rv)
        return ListPlan(False, None, None, None, opts.limit)
    # Exact, or a non-zero resourceVersion with limit (legacy exact semantics).
    if requested > current_rv:
        raise st.too_large_resource_version(requested, current_rv)
    if requested < compacted_rv:
        raise st.expired(st.EXPIRED_LIST)
    return ListPlan(False, None, requested, None, opts.limit)
