"""Kubernetes label and field selectors: parsing, canonical rendering and fast matching.

``parse_label_selector`` follows the grammar of ``k8s.io/apimachinery/pkg/labels.Parse``
(the one the API server applies to ``labelSelector=``); ``parse_field_selector`` follows
``fields.ParseSelector`` (``fieldSelector=``). Both raise :class:`SelectorError` with the
message the API server (v1.26) puts in its 400 ``BadRequest`` Status, so the simulator can
return it verbatim and a client can show the same words a real cluster would.

Parsed selectors are immutable and compiled: ``matches`` runs one generated function whose
constants were bound at parse time, so evaluating a selector per watch event is cheap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Final, NamedTuple

from fastinformer.errors import FastInformerError

__all__ = [
    "EVERYTHING",
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "default_field_label_conversion",
    "label_selector_from_dict",
    "label_selector_from_match_labels",
    "new_requirement",
    "object_field_getter",
    "parse_field_selector",
    "parse_label_selector",
]


class SelectorError(FastInformerError, ValueError):
    """A selector could not be parsed or built; the message is the API server's wording."""


# --------------------------------------------------------------------------------------------
# Operators (the strings of k8s.io/apimachinery/pkg/selection)

IN: Final = "in"
NOT_IN: Final = "notin"
EQUALS: Final = "="
DOUBLE_EQUALS: Final = "=="
NOT_EQUALS: Final = "!="
EXISTS: Final = "exists"
DOES_NOT_EXIST: Final = "!"
GREATER_THAN: Final = "gt"
LESS_THAN: Final = "lt"

_OPERATORS: Final = frozenset(
    {IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN}
)


class Requirement(NamedTuple):
    """One label requirement: ``operator`` is one of ``in notin = == != exists ! gt lt``.

    ``values`` is sorted and free of duplicates (empty for ``exists`` and ``!``). Build one
    with :func:`new_requirement`, which validates it as the API server does.
    """

    key: str
    operator: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({joined})"
        symbol = ">" if op == GREATER_THAN else "<" if op == LESS_THAN else op
        return f"{self.key}{symbol}{joined}"


# --------------------------------------------------------------------------------------------
# Validation with the wording of k8s.io/apimachinery/pkg/util/validation and field.Error

_QUALIFIED_NAME_FMT: Final = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QUALIFIED_NAME_RE: Final = re.compile(_QUALIFIED_NAME_FMT)
_QUALIFIED_NAME_MSG: Final = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT: Final = "(" + _QUALIFIED_NAME_FMT + ")?"
_LABEL_VALUE_RE: Final = re.compile(_LABEL_VALUE_FMT)
_LABEL_VALUE_MSG: Final = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT: Final = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT: Final = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE: Final = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1123_SUBDOMAIN_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_MAX_NAME: Final = 63
_MAX_SUBDOMAIN: Final = 253


def _regex_error(msg: str, fmt: str, *examples: str) -> str:
    # Same shape as validation.RegexError, including its doubled spaces before "or".
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def _byte_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _qualified_name_errors(value: str) -> list[str]:
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + msg for msg in _subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > _MAX_NAME:
        errs.append(f"name part must be no more than {_MAX_NAME} characters")
    if not _QUALIFIED_NAME_RE.fullmatch(name):
        errs.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MSG, _QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
        )
    return errs


def _subdomain_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _byte_len(value) > _MAX_SUBDOMAIN:
        errs.append(f"must be no more than {_MAX_SUBDOMAIN} characters")
    if not _DNS1123_SUBDOMAIN_RE.fullmatch(value):
        errs.append(_regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def _label_value_errors(value: str) -> list[str]:
    errs: list[str] = []
    if _byte_len(value) > _MAX_NAME:
        errs.append(f"must be no more than {_MAX_NAME} characters")
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(
            _regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345")
        )
    return errs


_GO_ESCAPES: Final = {
    '"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}  # fmt: skip


def _go_quote(s: str) -> str:
    """Go's ``%q`` of a string (strconv.Quote)."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def _go_value(value: str | list[str] | None) -> str:
    """How field.Invalid prints a bad value: ``%q`` for strings, ``%#v`` for []string."""
    if isinstance(value, str):
        return _go_quote(value)
    if value is None:
        return "[]string(nil)"
    return "[]string{" + ", ".join(_go_quote(v) for v in value) + "}"


def _invalid(path: str, value: str | list[str] | None, detail: str) -> str:
    return f"{path}: Invalid value: {_go_value(value)}: {detail}"


def _aggregate(errors: list[str]) -> str:
    # utilerrors.Aggregate: one message as is, several de-duplicated inside brackets.
    unique = list(dict.fromkeys(errors))
    return unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"


def _key_error(key: str, path: str) -> str | None:
    errs = _qualified_name_errors(key)
    return _invalid(path, key, "; ".join(errs)) if errs else None


_INT64_RE: Final = re.compile(r"[+-]?[0-9]+")
_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1


def _parse_int64(s: str) -> int | None:
    """Go's ``strconv.ParseInt(s, 10, 64)``: None where Go returns an error."""
    if not _INT64_RE.fullmatch(s) or not s.isascii():
        return None
    n = int(s)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


def _requirement_errors(
    key: str, operator: str, values: list[str] | None, *, check_key: bool
) -> list[str]:
    """NewRequirement's checks in its order; bad values are indexed as given in ``values``."""
    errors: list[str] = []
    if check_key:
        err = _key_error(key, "key")
        if err is not None:
            errors.append(err)
    vals = values or []
    if operator in (IN, NOT_IN):
        if not vals:
            errors.append(
                _invalid("values", values, "for 'in', 'notin' operators, values set can't be empty")
            )
    elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
        if len(vals) != 1:
            errors.append(
                _invalid("values", values, "exact-match compatibility requires one single value")
            )
    elif operator in (EXISTS, DOES_NOT_EXIST):
        if vals:
            errors.append(
                _invalid("values", values, "values set must be empty for exists and does not exist")
            )
    elif operator in (GREATER_THAN, LESS_THAN):
        if len(vals) != 1:
            errors.append(
                _invalid(
                    "values", values, "for 'Gt', 'Lt' operators, exactly one value is required"
                )
            )
        for i, v in enumerate(vals):
            if _parse_int64(v) is None:
                errors.append(
                    _invalid(
                        f"values[{i}]", v, "for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                )
    else:
        supported = ", ".join(
            _go_quote(op)
            for op in (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, EXISTS, DOES_NOT_EXIST)
        )
        errors.append(
            f"operator: Unsupported value: {_go_quote(operator)}: supported values: {supported}, "
            '"gt", "lt"'
        )
    for i, v in enumerate(vals):
        errs = _label_value_errors(v)
        if errs:
            errors.append(_invalid(f"values[{i}][{key}]", v, "; ".join(errs)))
    return errors


def new_requirement(key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
    """Build and validate a requirement as ``labels.NewRequirement`` does.

    ``values`` is sorted and de-duplicated. Raises :class:`SelectorError` with the server's
    message (e.g. ``key: Invalid value: "a b": name part must consist of ...``).
    """
    given = list(values)
    errors = _requirement_errors(key, operator, given, check_key=True)
    if errors:
        raise SelectorError(_aggregate(errors))
    return Requirement(key, operator, tuple(sorted(set(given))))


# --------------------------------------------------------------------------------------------
# Label selector lexer and parser (same token rules and error texts as labels.Parse)

_T_ERROR, _T_EOS, _T_CLOSE, _T_COMMA, _T_NOT, _T_DEQ, _T_EQ = range(7)
_T_GT, _T_IDENT, _T_IN, _T_LT, _T_NEQ, _T_NOTIN, _T_OPEN = range(7, 14)

_STRING_TO_TOKEN: Final = {
    ")": _T_CLOSE, ",": _T_COMMA, "!": _T_NOT, "==": _T_DEQ, "=": _T_EQ, ">": _T_GT,
    "in": _T_IN, "<": _T_LT, "!=": _T_NEQ, "notin": _T_NOTIN, "(": _T_OPEN,
}  # fmt: skip
_WHITESPACE: Final = frozenset(" \t\r\n")
_SPECIAL: Final = frozenset("=!(),><")
_END: Final = "\0"  # the Go lexer reads a NUL byte and the end of input alike

_Token = tuple[int, str]


def _lex(s: str) -> list[_Token]:
    """All tokens up to and including the end-of-string token."""
    n = len(s)
    pos = 0
    tokens: list[_Token] = []
    while True:
        ch = _END
        while True:  # skip whitespace
            if pos < n:
                ch = s[pos]
                pos += 1
            else:
                ch = _END
            if ch not in _WHITESPACE:
                break
        if ch == _END:
            tokens.append((_T_EOS, ""))
            return tokens
        pos -= 1
        if ch in _SPECIAL:
            last: _Token = (_T_ERROR, "")
            start = pos
            while pos < n:
                ch = s[pos]
                pos += 1
                if ch == _END:
                    break
                if ch not in _SPECIAL:
                    pos -= 1
                    break
                tok = _STRING_TO_TOKEN.get(s[start:pos])
                if tok is not None:
                    last = (tok, s[start:pos])
                elif last[0] != _T_ERROR:
                    pos -= 1
                    break
            tokens.append(last)  # never _T_ERROR: each special character is a token alone
        else:
            start = pos
            end = -1
            while pos < n:
                ch = s[pos]
                pos += 1
                if ch == _END:
                    end = pos - 1
                    break
                if ch in _SPECIAL or ch in _WHITESPACE:
                    pos -= 1
                    break
            word = s[start : (end if end >= 0 else pos)]
            tokens.append((_STRING_TO_TOKEN.get(word, _T_IDENT), word))


class _Parser:
    """Recursive descent over the token list; ``values`` context reads in/notin as words."""

    __slots__ = ("pos", "tokens")

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> _Token:
        tok, lit = self.tokens[self.pos]
        if values and tok in (_T_IN, _T_NOTIN):
            tok = _T_IDENT
        return tok, lit

    def next(self, values: bool = True) -> _Token:
        token = self.peek(values)
        self.pos += 1
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _T_EOS:
                return requirements
            if tok not in (_T_IDENT, _T_NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except _RequirementError as e:
                raise SelectorError(f"unable to parse requirement: {e}") from None
            tok, lit = self.next()
            if tok == _T_EOS:
                return requirements
            if tok != _T_COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok2, lit2 = self.peek()
            if tok2 not in (_T_IDENT, _T_NOT):
                raise SelectorError(f"found '{lit2}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.next()
        if tok == _T_NOT:
            operator = DOES_NOT_EXIST
            tok, key = self.next()
        if tok != _T_IDENT:
            raise _RequirementError(f"found '{key}', expected: identifier")
        err = _key_error(key, "<nil>")
        if err is not None:
            raise _RequirementError(err)
        if operator != DOES_NOT_EXIST and self.peek()[0] in (_T_EOS, _T_COMMA):
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement(key, operator, ())
        operator = self.operator()
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        ordered = sorted(values)
        errors = _requirement_errors(key, operator, ordered, check_key=False)
        if errors:
            raise _RequirementError(_aggregate(errors))
        return Requirement(key, operator, tuple(ordered))

    def operator(self) -> str:
        tok, lit = self.next(values=False)
        op = _TOKEN_TO_OPERATOR.get(tok)
        if op is None:
            raise _RequirementError(f"found '{lit}', expected: '=', '!=', '==', 'in', notin'")
        return op

    def value_set(self) -> set[str]:
        tok, lit = self.next()
        if tok != _T_OPEN:
            raise _RequirementError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == _T_CLOSE:
            self.pos += 1
            return {""}
        if tok not in (_T_IDENT, _T_COMMA):
            raise _RequirementError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.next()[0] != _T_CLOSE:
            # The server names the first token after '(' here, not the offending one.
            raise _RequirementError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.next()
            if tok == _T_IDENT:
                values.add(lit)
                tok2, lit2 = self.peek()
                if tok2 == _T_CLOSE:
                    return values
                if tok2 != _T_COMMA:
                    raise _RequirementError(f"found '{lit2}', expected: ',' or ')'")
            elif tok == _T_COMMA:
                if not values:
                    values.add("")  # "(,"
                tok2 = self.peek()[0]
                if tok2 == _T_CLOSE:
                    values.add("")
                    return values
                if tok2 == _T_COMMA:
                    self.pos += 1
                    values.add("")
            else:
                raise _RequirementError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_T_EOS, _T_COMMA):
            return {""}
        tok, lit = self.next()
        if tok != _T_IDENT:
            raise _RequirementError(f"found '{lit}', expected: identifier")
        return {lit}


class _RequirementError(Exception):
    """Internal: a requirement failed; ``parse`` prefixes "unable to parse requirement: "."""


_TOKEN_TO_OPERATOR: Final = {
    _T_IN: IN, _T_EQ: EQUALS, _T_DEQ: DOUBLE_EQUALS, _T_GT: GREATER_THAN,
    _T_LT: LESS_THAN, _T_NOTIN: NOT_IN, _T_NEQ: NOT_EQUALS,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Compiled matchers


def _gt(value: str | None, bound: int) -> bool:
    n = None if value is None else _parse_int64(value)
    return n is not None and n > bound


def _lt(value: str | None, bound: int) -> bool:
    n = None if value is None else _parse_int64(value)
    return n is not None and n < bound


def _label_condition(i: int, r: Requirement, env: dict[str, Any]) -> str:
    """Python expression for requirement ``r`` over ``ls``/``get``; constants go in ``env``."""
    env[f"k{i}"] = r.key
    op = r.operator
    if op == EXISTS:
        return f"k{i} in ls"
    if op == DOES_NOT_EXIST:
        return f"k{i} not in ls"
    if op in (GREATER_THAN, LESS_THAN):
        env[f"n{i}"] = _parse_int64(r.values[0])
        return f"{'_gt' if op == GREATER_THAN else '_lt'}(get(k{i}), n{i})"
    if len(r.values) == 1:
        env[f"v{i}"] = r.values[0]
        return f"get(k{i}) {'!=' if op in (NOT_EQUALS, NOT_IN) else '=='} v{i}"
    env[f"v{i}"] = frozenset(r.values)
    return f"get(k{i}) {'not in' if op == NOT_IN else 'in'} v{i}"


def _compile(name: str, conditions: list[str], env: dict[str, Any], empty_result: str) -> Any:
    # Generated code holds only identifiers chosen here; user text reaches it as bound values.
    body = " and ".join(conditions) if conditions else "True"
    source = (
        f"def {name}(ls):\n"
        f"    if not ls:\n"
        f"        return {empty_result}\n"
        f"    get = ls.get\n"
        f"    return {body}\n"
    )
    exec(source, env)
    return env[name]


class LabelSelector:
    """A parsed label selector: requirements sorted by key, all of which must hold.

    Immutable and hashable; ``str()`` is the canonical form ``labels.Selector.String()``
    prints, which parses back to an equal selector.
    """

    __slots__ = ("_match", "_text", "requirements")

    requirements: tuple[Requirement, ...]

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        reqs = sorted(requirements)  # by key like the server; then by operator and values
        for r in reqs:
            if r.operator not in _OPERATORS or list(r.values) != sorted(set(r.values)):
                raise SelectorError(f"malformed requirement {r!r}: build it with new_requirement")
            errors = _requirement_errors(r.key, r.operator, list(r.values), check_key=True)
            if errors:
                raise SelectorError(_aggregate(errors))
        self.requirements = tuple(reqs)
        self._text = ",".join(str(r) for r in reqs)
        env: dict[str, Any] = {"_gt": _gt, "_lt": _lt}
        conditions = [_label_condition(i, r, env) for i, r in enumerate(reqs)]
        self._match: Callable[[Mapping[str, str] | None], bool] = _compile(
            "match_labels", conditions, env, repr(_match_empty(reqs))
        )

    @property
    def empty(self) -> bool:
        """True when the selector has no requirements (it selects everything)."""
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether ``labels`` (None counts as no labels) satisfies every requirement."""
        return self._match(labels)

    @property
    def matcher(self) -> Callable[[Mapping[str, str] | None], bool]:
        """The compiled predicate behind :meth:`matches` (saves an attribute hop per call)."""
        return self._match

    def requires_exact_match(self, key: str) -> str | None:
        """The value ``key`` must have (``=``, ``==`` or a one-value ``in``), else None."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"LabelSelector({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def _match_empty(reqs: list[Requirement]) -> bool:
    """What the selector answers for an object without labels."""
    return all(r.operator in (NOT_EQUALS, NOT_IN, DOES_NOT_EXIST) for r in reqs)


EVERYTHING: Final = LabelSelector()


def parse_label_selector(s: str) -> LabelSelector:
    """Parse ``s`` with the API server's label selector grammar ("" selects everything).

    Raises :class:`SelectorError`, e.g. ``unable to parse requirement: found 'web'
    expected: '('`` for ``"tier in web"``. Results are cached (selectors are immutable).
    """
    if not isinstance(s, str):
        raise TypeError(f"label selector must be a str, not {type(s).__name__}")
    return _parse_label_selector(s)


@lru_cache(maxsize=512)
def _parse_label_selector(s: str) -> LabelSelector:
    return LabelSelector(_Parser(s).parse())


def label_selector_from_match_labels(match_labels: Mapping[str, str] | None) -> str:
    """``k=v`` requirements sorted by key (``labels.ValidatedSelectorFromSet(...).String()``)."""
    if not match_labels:
        return ""
    return str(LabelSelector(new_requirement(k, EQUALS, (v,)) for k, v in match_labels.items()))


_EXPRESSION_OPERATORS: Final = {
    "In": IN, "NotIn": NOT_IN, "Exists": EXISTS, "DoesNotExist": DOES_NOT_EXIST,
}  # fmt: skip


def _field(obj: Any, camel: str, snake: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(camel, obj.get(snake))
    return getattr(obj, snake, None)


def label_selector_from_dict(selector: Any) -> str:
    """Render a ``metav1.LabelSelector`` (dict with matchLabels/matchExpressions, or an object
    with ``match_labels``/``match_expressions`` such as ``V1LabelSelector``) as a string.

    Mirrors ``metav1.LabelSelectorAsSelector``; an empty selector gives "" (everything).
    ``None`` means "nothing" in Kubernetes, which no selector string can say: it raises.
    """
    if selector is None:
        raise SelectorError("a nil label selector selects nothing and has no string form")
    match_labels = _field(selector, "matchLabels", "match_labels") or {}
    expressions = _field(selector, "matchExpressions", "match_expressions") or []
    requirements = [new_requirement(k, EQUALS, (v,)) for k, v in match_labels.items()]
    for expr in expressions:
        op_name = _field(expr, "operator", "operator")
        op = _EXPRESSION_OPERATORS.get(op_name) if isinstance(op_name, str) else None
        if op is None:
            raise SelectorError(f"{_go_value(str(op_name))} is not a valid label selector operator")
        key = str(_field(expr, "key", "key"))
        raw = _field(expr, "values", "values")
        values = [str(v) for v in raw] if raw else None  # Go copies an empty list as nil
        errors = _requirement_errors(key, op, values, check_key=True)
        if errors:
            raise SelectorError(_aggregate(errors))
        requirements.append(Requirement(key, op, tuple(sorted(set(values or ())))))
    return str(LabelSelector(requirements))


# --------------------------------------------------------------------------------------------
# Field selectors (fields.ParseSelector)


def _split_terms(s: str) -> list[str]:
    terms: list[str] = []
    start = 0
    escaped = False
    for i, ch in enumerate(s):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


_TERM_OPERATORS: Final = ("!=", "==", "=")


def _split_term(term: str) -> tuple[str, str, str] | None:
    for i in range(len(term)):
        for op in _TERM_OPERATORS:
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str:
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    out: list[str] = []
    escaped = False
    for ch in value:
        if escaped:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in ",=":
            # Go prints the rune with %v, i.e. as its code point number.
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if escaped:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _field_condition(i: int, field: str, op: str, value: str, env: dict[str, Any]) -> str:
    # A missing field reads as "" (fields.Set.Get), so "f=" matches objects without f.
    env[f"f{i}"] = field
    env[f"v{i}"] = value
    if op == "=":
        return f"get(f{i}) == v{i}" if value else f"not get(f{i})"
    return f"get(f{i}) != v{i}" if value else f"bool(get(f{i}))"


class FieldSelector:
    """A parsed field selector: ``field=value`` / ``field!=value`` terms that must all hold.

    ``requirements`` lists ``(field, op, value)`` with ``op`` ``"="`` or ``"!="`` (``==``
    reads as ``=``, as on the server), values unescaped; ``str()`` re-escapes them.
    """

    __slots__ = ("_match", "_terms", "_text")

    def __init__(self, terms: Iterable[tuple[str, str, str]] = ()) -> None:
        # Sorted by rendered text, so str() is canonical and parses back to an equal selector.
        self._terms = tuple(sorted(terms, key=lambda t: f"{t[0]}{t[1]}{_escape(t[2])}"))
        for field, op, _ in self._terms:
            if op not in ("=", "!=") or _split_term(field + op + "x") != (field, op, "x"):
                raise SelectorError(f"field selector term {field!r} {op!r} cannot be expressed")
            if "," in field.replace("\\\\", "").replace("\\,", ""):
                raise SelectorError(f"field selector term {field!r} cannot be expressed")
        self._text = ",".join(f"{f}{op}{_escape(v)}" for f, op, v in self._terms)
        env: dict[str, Any] = {}
        conditions = [_field_condition(i, *term, env) for i, term in enumerate(self._terms)]
        body = " and ".join(conditions) if conditions else "True"
        exec(f"def match_fields(get):\n    return {body}\n", env)
        self._match: Callable[[Callable[[str], str | None]], bool] = env["match_fields"]

    @property
    def requirements(self) -> list[tuple[str, str, str]]:
        """The terms in canonical (sorted-as-written) order."""
        return list(self._terms)

    @property
    def empty(self) -> bool:
        """True when the selector has no terms (it selects everything)."""
        return not self._terms

    def matches(self, get: Callable[[str], str | None]) -> bool:
        """Whether every term holds; ``get(field)`` returns the field's string or None."""
        return self._match(get)

    def requires_exact_match(self, field: str) -> str | None:
        """The value ``field`` must equal, if some ``=`` term names it, else None."""
        for f, op, v in self._terms:
            if f == field and op == "=":
                return v
        return None

    def transform(self, fn: Callable[[str, str], tuple[str, str]]) -> FieldSelector:
        """A selector with every ``(field, value)`` mapped through ``fn`` (which may raise
        :class:`SelectorError`, e.g. :func:`default_field_label_conversion`)."""
        terms = []
        for field, op, value in self._terms:
            new_field, new_value = fn(field, value)
            terms.append((new_field, op, new_value))
        return FieldSelector(terms)

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"FieldSelector({self._text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._terms == other._terms

    def __hash__(self) -> int:
        return hash(self._terms)


def parse_field_selector(s: str) -> FieldSelector:
    """Parse ``s`` as ``fields.ParseSelector`` does: terms split at unescaped commas, sorted,
    empty ones skipped; ``\\``, ``,`` and ``=`` in values must be escaped with ``\\``.

    Raises :class:`SelectorError` with the server's message, e.g. ``invalid selector: 'a';
    can't understand 'a'``. Field names are not checked here: that depends on the resource
    (see :meth:`FieldSelector.transform`).
    """
    if not isinstance(s, str):
        raise TypeError(f"field selector must be a str, not {type(s).__name__}")
    return _parse_field_selector(s)


@lru_cache(maxsize=512)
def _parse_field_selector(s: str) -> FieldSelector:
    terms: list[tuple[str, str, str]] = []
    for part in sorted(_split_terms(s)) if s else ():
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{s}'; can't understand '{part}'")
        field, op, raw = split
        terms.append((field, "!=" if op == "!=" else "=", _unescape(raw)))
    return FieldSelector(terms)


def default_field_label_conversion(field: str, value: str) -> tuple[str, str]:
    """The fields every resource supports (``metadata.name``, ``metadata.namespace``); others
    raise :class:`SelectorError` with the server's message."""
    if field in ("metadata.name", "metadata.namespace"):
        return field, value
    raise SelectorError(
        f'{_go_quote(field)} is not a known field selector: only "metadata.name", '
        '"metadata.namespace"'
    )


@lru_cache(maxsize=256)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def object_field_getter(obj: Mapping[str, Any]) -> Callable[[str], str | None]:
    """A ``get`` for :meth:`FieldSelector.matches` reading dotted paths of a dict object.

    Booleans read as ``"true"``/``"false"`` and numbers as decimal, like the server's
    field sets; a missing path or a non-scalar reads as None.
    """

    def get(path: str) -> str | None:
        node: Any = obj
        for part in _path_parts(path):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        if isinstance(node, str):
            return node
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, int | float):
            return str(node)
        return None

    return get
