"""Safe evaluation of one ``.cfg`` value: a Python expression walked node by node, never ``eval``.

Allowed: literals (numbers, strings, booleans, ``None``, lists, tuples, dicts, sets), arithmetic,
bitwise, boolean and comparison operators, ``a if c else b``, and calls of ``abs``, ``bool``,
``float``, ``int``, ``len``, ``max``, ``min``, ``pow``, ``round``, ``str`` and ``sum``; a value that
is one bare word is that word as a string. Everything else is refused before anything runs, and
so is every result larger than the limits below, checked *before* it is computed. Each allowed
call's arguments are bounded before the call too (:func:`_bound_call`): ``round()``'s digits,
the length of the text ``int()`` and ``float()`` read, the text ``str()`` would make, and the
sizes every other call works through. The values of one file also share one budget of work
(:data:`MAX_WORK`: every expression node, and the elements and characters of every value made),
so many values each just under the limits cannot add up to minutes. The result is returned in
its JSON form (tuples and sets as lists).
"""

from __future__ import annotations

import ast
import math
import operator
import re
import warnings
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = [
    "MAX_DEPTH",
    "MAX_DIGITS",
    "MAX_INT_BITS",
    "MAX_SIZE",
    "MAX_TEXT",
    "MAX_WORK",
    "evaluate",
]

#: The largest integer a value may hold or compute, in bits (about 1230 decimal digits).
MAX_INT_BITS = 4096
#: The most elements plus string characters (and digits of long integers) one value may hold.
MAX_SIZE = 1_000_000
#: The deepest nesting of a value's expression.
MAX_DEPTH = 100
#: The longest value text, in characters.
MAX_TEXT = 200_000
#: The most work the values of one file may take together: expression nodes evaluated, plus the
#: elements and characters of every value made along the way (each value is counted, and its
#: containers walked, once).
MAX_WORK = 4 * MAX_SIZE
#: The most decimal digits ``round()`` may keep or drop (an integer of MAX_INT_BITS has 1,234).
MAX_DIGITS = math.ceil(MAX_INT_BITS * math.log10(2)) + 1
#: The longest text ``int()`` and ``float()`` may read (a MAX_INT_BITS integer in base 2, and some).
_MAX_NUMBER_TEXT = MAX_INT_BITS + 64

_CALLS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "bool": bool,
    "float": float,
    "int": int,
    "len": len,
    "max": max,
    "min": min,
    "pow": pow,
    "round": round,
    "str": str,
    "sum": sum,
}
_CALL_LIST = ", ".join(f"{name}()" for name in _CALLS)
_ALLOWED = (
    "a value may use literals, arithmetic and comparison operators and the calls "
    f"{_CALL_LIST}; quote text to make it a string"
)
_INT = re.compile(r"[-+]?[0-9]{1,300}")
_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?|[-+]?[0-9]+[eE][-+]?[0-9]{1,3}"
)
_SEQUENCES = (str, list, tuple)

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
    ast.Not: operator.not_,
    ast.Invert: operator.invert,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "subscripting",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.NamedExpr: "the walrus operator ':='",
    ast.Starred: "unpacking with '*'",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.Slice: "slicing",
}


class _Refused(Exception):
    """A value that is not allowed; ``reason`` says why, ``hint`` how to fix it."""

    def __init__(self, reason: str, hint: str = _ALLOWED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint


# ---------------------------------------------------------------------------------------------
# Safe evaluation

_CONTAINERS = (list, tuple, set, frozenset, dict)


class _Work:
    """The work spent on one file's values (:data:`MAX_WORK`), and the size of each container
    made for the value being evaluated, so that no container is walked twice."""

    __slots__ = ("_sizes", "spent")

    def __init__(self) -> None:
        self.spent = 0
        self._sizes: dict[int, tuple[Any, int]] = {}  # id -> (the container, kept alive; size)

    def spend(self, amount: int) -> None:
        self.spent += amount
        if self.spent > MAX_WORK:
            msg = (
                f"the file's values together take more than {MAX_WORK:,} steps to work out "
                "(expression parts, and elements and characters made)"
            )
            raise _Refused(msg, "make the values smaller or fewer")

    def known(self, value: Any) -> int | None:
        """The size of a container made before, or ``None``."""
        entry = self._sizes.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None

    def made(self, value: Any, size: int) -> None:
        """Count a new value of ``size`` elements and characters (and remember a container's)."""
        if isinstance(value, _CONTAINERS):
            self._sizes[id(value)] = (value, size)
        self.spend(size)

    def forget(self) -> None:
        """Drop the sizes of the last value's containers (the work stays counted)."""
        self._sizes.clear()


def _size(value: Any, budget: int = MAX_SIZE, work: _Work | None = None) -> int:
    """Elements plus string characters of ``value`` (a long integer counts its digits, which
    config.json will hold); stops counting once past ``budget``. A container whose size ``work``
    knows is not walked again."""
    if isinstance(value, str):
        return len(value) or 1
    if type(value) is int and value.bit_length() > 64:
        return value.bit_length() * 302 // 1000 + 1
    if not isinstance(value, _CONTAINERS):
        return 1
    if work is not None:
        known = work.known(value)
        if known is not None:
            return known
    total = 1
    if isinstance(value, dict):
        for key, item in value.items():
            total += _size(key, budget - total, work) + _size(item, budget - total, work)
            if total > budget:
                return total
        return total
    for item in value:
        total += _size(item, budget - total, work)
        if total > budget:
            return total
    return total


def _check_size(size: int, what: str) -> None:
    if size > MAX_SIZE:
        msg = (
            f"{what} would hold about {size:,} elements and characters, more than the limit "
            f"of {MAX_SIZE:,}"
        )
        raise _Refused(msg, "make the value smaller")


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        msg = (
            f"{what} would be an integer of about {bits:,} bits, more than the limit "
            f"of {MAX_INT_BITS:,}"
        )
        raise _Refused(msg, "make the value smaller")


def _checked(value: Any, what: str, work: _Work, size: int | None = None) -> Any:
    """``value`` if within the limits; a new string or container is counted in ``work`` (its
    ``size``, when the caller knows it, spares a walk)."""
    if type(value) is int:
        _check_bits(value.bit_length(), what)
    elif isinstance(value, (str, *_CONTAINERS)):
        if size is None:
            if work.known(value) is not None:
                return value  # made before (max() and min() return an argument)
            size = _size(value, work=work)
        _check_size(size, what)
        work.made(value, size)
    return value


def _binary(op: type[ast.operator], left: Any, right: Any, symbol: str, work: _Work) -> Any:
    what = f"'{symbol}'"
    size = None  # the result's size, when the operands' give it without a walk
    if op is ast.Mult:
        count, seq = (right, left) if isinstance(left, _SEQUENCES) else (left, right)
        if isinstance(seq, _SEQUENCES) and isinstance(count, int):
            one = _size(seq, work=work)
            _check_size(one * max(count, 0), f"the repetition {what}")
            if isinstance(seq, str):
                size = len(seq) * max(count, 0) or 1
            else:
                size = 1 + (one - 1) * max(count, 0)
        elif isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length(), f"the product {what}")
    elif op is ast.Add and isinstance(left, _SEQUENCES) and type(left) is type(right):
        sizes = _size(left, work=work), _size(right, work=work)
        _check_size(sum(sizes), f"the concatenation {what}")
        # Two strings: their characters; two lists or tuples: one container, not two.
        size = (len(left) + len(right) or 1) if isinstance(left, str) else sum(sizes) - 1
    elif op is ast.Pow and isinstance(left, int) and isinstance(right, int):
        if right > 0 and abs(left) > 1:
            _check_bits(right * (abs(left).bit_length() - 1) + 1, f"the power {what}")
    elif op is ast.LShift and isinstance(left, int) and isinstance(right, int):
        if left and right > 0:
            _check_bits(left.bit_length() + right, f"the shift {what}")
    elif op is ast.Mod and isinstance(left, str):
        msg = "string formatting with '%' is not allowed"
        raise _Refused(msg)
    try:
        result = _BINARY[op](left, right)
    except (ArithmeticError, TypeError, ValueError) as exc:
        msg = f"{_describe(left)} {symbol} {_describe(right)} fails ({exc})"
        raise _Refused(msg, "check the operands, or quote text to make it a string") from None
    return _checked(result, f"the result of {what}", work, size)


def _describe(value: Any) -> str:
    if isinstance(value, (str, list, tuple, set, frozenset, dict)) and _size(value, 40) > 40:
        return f"{type(value).__name__} of length {len(value)}"  # repr would cost its full size
    text = repr(value)
    return text if len(text) <= 40 else f"{type(value).__name__} of {len(text)} characters"


def _text_size(value: Any, budget: int = MAX_SIZE) -> int:
    """About how many characters ``str(value)`` makes (never fewer); stops past ``budget``."""
    if isinstance(value, str):
        if value.isprintable():
            return len(value) + 2 + value.count("\\") + value.count("'")
        return 10 * len(value) + 2  # \U0001xxxx: ten characters per character at most
    if type(value) is int:
        return value.bit_length() * 302 // 1000 + 2
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = 2
        items = value.items() if isinstance(value, dict) else ((item,) for item in value)
        for pair in items:
            for item in pair:
                total += _text_size(item, budget - total) + 2
            if total > budget:
                return total
        return total
    return 32  # a float, a bool or None


def _bound_call(name: str, args: list[Any]) -> None:
    """Refuse arguments that would make an allowed call slow or its result huge, before the call.

    Sizes (elements, characters, integer bits) of every argument are already bounded when it is
    made; what remains is what a call can do with a small argument: ``round(1, -10**8)`` builds
    ``10**(10**8)``, ``str()`` of a list of long integers makes text many times its size, and
    ``int()`` and ``float()`` read text in time that grows faster than its length.
    """
    if name == "round" and len(args) == 2 and type(args[1]) is int:
        if abs(args[1]) > MAX_DIGITS:
            msg = (
                f"round() keeps or drops at most {MAX_DIGITS:,} digits, not {abs(args[1]):,} "
                f"(round(x, {args[1]}))"
            )
            raise _Refused(msg, "round to fewer digits")
    elif name in ("int", "float") and args and isinstance(args[0], str):
        if len(args[0]) > _MAX_NUMBER_TEXT:
            msg = (
                f"{name}() reads numbers of at most {_MAX_NUMBER_TEXT:,} characters, not "
                f"{len(args[0]):,}"
            )
            raise _Refused(msg, "write a shorter number")
    elif name == "str" and args:
        size = _text_size(args[0])
        if size > MAX_SIZE:
            _check_size(size, "the text of str()")


def _call(name: str, args: list[Any], work: _Work) -> Any:
    _bound_call(name, args)
    if name == "pow" and len(args) == 2:
        return _binary(ast.Pow, args[0], args[1], "**", work)
    if name == "sum":
        items = args[0] if args else ()
        numbers = (
            [*items, *args[1:]] if isinstance(items, (list, tuple, set, frozenset, dict)) else []
        )
        if not args or not all(isinstance(v, (int, float)) for v in numbers):
            msg = "sum() adds numbers only"
            raise _Refused(msg, "give sum() a list of numbers")
    try:
        result = _CALLS[name](*args)
    except (ArithmeticError, TypeError, ValueError) as exc:
        msg = f"{name}() fails ({exc})"
        raise _Refused(msg, "check its arguments") from None
    return _checked(result, f"the result of {name}()", work)


def _eval(node: ast.AST, depth: int, work: _Work) -> Any:
    if depth > MAX_DEPTH:
        msg = f"it nests deeper than {MAX_DEPTH} levels"
        raise _Refused(msg, "write a flatter value")
    work.spend(1)
    kind = type(node)
    depth += 1
    if kind is ast.Constant:
        value = node.value  # type: ignore[attr-defined]
        if value is None or type(value) in (int, float, str, bool):
            return _checked(value, "the literal", work)
        msg = f"{type(value).__name__} literals are not allowed"
        raise _Refused(msg)
    if kind is ast.List:
        items = [_eval(e, depth, work) for e in node.elts]  # type: ignore[attr-defined]
        return _checked(items, "the list", work)
    if kind is ast.Tuple:
        items = [_eval(e, depth, work) for e in node.elts]  # type: ignore[attr-defined]
        return _checked(tuple(items), "the tuple", work)
    if kind is ast.Set:
        items = [_eval(e, depth, work) for e in node.elts]  # type: ignore[attr-defined]
        try:
            return _checked(set(items), "the set", work)
        except TypeError as exc:
            msg = f"the set cannot hold its items ({exc})"
            raise _Refused(msg, "use a list instead") from None
    if kind is ast.Dict:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):  # type: ignore[attr-defined]
            if key_node is None:
                msg = "unpacking with '**' is not allowed"
                raise _Refused(msg)
            key = _eval(key_node, depth, work)
            if not isinstance(key, str):
                msg = f"the dict key {key!r} is not a string (dict keys become config keys)"
                raise _Refused(msg, "quote the key")
            out[key] = _eval(value_node, depth, work)
        return _checked(out, "the dict", work)
    if kind is ast.BinOp:
        op = type(node.op)  # type: ignore[attr-defined]
        if op not in _BINARY:
            msg = "the operator '@' is not allowed"
            raise _Refused(msg)
        left = _eval(node.left, depth, work)  # type: ignore[attr-defined]
        right = _eval(node.right, depth, work)  # type: ignore[attr-defined]
        return _binary(op, left, right, _SYMBOLS[op], work)
    if kind is ast.UnaryOp:
        operand = _eval(node.operand, depth, work)  # type: ignore[attr-defined]
        try:
            return _UNARY[type(node.op)](operand)  # type: ignore[attr-defined]
        except TypeError as exc:
            msg = f"the operator fails on {_describe(operand)} ({exc})"
            raise _Refused(msg, "check the operand") from None
    if kind is ast.BoolOp:
        is_and = isinstance(node.op, ast.And)  # type: ignore[attr-defined]
        result: Any = None
        for operand_node in node.values:  # type: ignore[attr-defined]
            result = _eval(operand_node, depth, work)
            if bool(result) is not is_and:
                return result
        return result
    if kind is ast.Compare:
        left = _eval(node.left, depth, work)  # type: ignore[attr-defined]
        verdict = True
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):  # type: ignore[attr-defined]
            compare = _COMPARE.get(type(op_node))
            if compare is None:
                msg = "'is' and 'is not' are not allowed"
                raise _Refused(msg, "use '==' or '!='")
            right = _eval(right_node, depth, work)
            try:
                verdict = bool(compare(left, right))
            except TypeError as exc:
                msg = f"the comparison fails ({exc})"
                raise _Refused(msg, "compare values of the same kind") from None
            if not verdict:
                return False
            left = right
        return verdict
    if kind is ast.IfExp:
        test = _eval(node.test, depth, work)  # type: ignore[attr-defined]
        return _eval(node.body if test else node.orelse, depth, work)  # type: ignore[attr-defined]
    if kind is ast.Call:
        func = node.func  # type: ignore[attr-defined]
        if not isinstance(func, ast.Name):
            what = (
                "attribute access" if isinstance(func, ast.Attribute) else "calling an expression"
            )
            msg = f"{what} ({_snippet(func)}) is not allowed"
            raise _Refused(msg)
        if func.id not in _CALLS:
            raise _Refused(_name_reason(func.id, called=True))
        if node.keywords:  # type: ignore[attr-defined]
            msg = f"keyword arguments are not allowed (in the call of {func.id}())"
            raise _Refused(msg, "pass the arguments by position")
        args = [_eval(a, depth, work) for a in node.args]  # type: ignore[attr-defined]
        return _call(func.id, args, work)
    if kind is ast.Name:
        raise _Refused(_name_reason(node.id, called=False))  # type: ignore[attr-defined]
    what = _REFUSED_NODES.get(kind, f"the expression {kind.__name__}")
    msg = f"{what} ({_snippet(node)}) is not allowed"
    raise _Refused(msg)


def _snippet(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 40 else text[:37] + "..."


def _name_reason(name: str, *, called: bool) -> str:
    if name.startswith("__") or name.endswith("__"):
        return f"the dunder name {name!r} is not allowed"
    if called:
        return f"calling {name}() is not allowed"
    return (
        f"the name {name!r} is not allowed inside an expression "
        "(only a whole value may be a bare word)"
    )


_SYMBOLS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}


def _plain(value: Any) -> Any:
    """The JSON form of an evaluated value: tuples and sets as lists; inf and nan refused."""
    kind = type(value)
    if kind is float:
        if not math.isfinite(value):
            msg = f"the result {value!r} cannot be stored in config.json"
            raise _Refused(msg, "write a finite number, or a string such as 'inf'")
        return value
    if kind is complex:
        msg = f"the result {value!r} is a complex number, which config.json cannot store"
        raise _Refused(msg, "check the signs of a power with a fractional exponent")
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if kind is set:
        items = [_plain(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if kind is dict:
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"the text holds a lone surrogate ({value[exc.start]!r}), which is not Unicode"
            raise _Refused(msg, "fix the escape, such as '\\ud800'") from None
    return value


def _parse_expression(text: str) -> ast.expr:
    source = text if "\n" not in text else f"(\n{text}\n)"
    if "\\" in text:  # an invalid escape such as "\d" warns while parsing: it stays as written
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source, mode="eval")
    else:
        tree = ast.parse(source, mode="eval")
    return tree.body


def evaluate(text: str) -> Any:
    """Evaluate one ``.cfg`` value safely and return its JSON form.

    Raises:
        ConfigError: the value is not an allowed expression, or its result is too large.

    Example:
        >>> evaluate("max(128, 3 * 64)"), evaluate("relu"), evaluate("(1, 2)")
        (192, 'relu', [1, 2])
    """
    try:
        return _evaluate(text, _Work())
    except _Refused as exc:
        shown = repr(text) if len(text) <= 60 else repr(text[:57] + "...")
        msg = f"Value {shown} is refused: {exc.reason}; {exc.hint}."
        raise ConfigError(msg, value=text) from None


def _evaluate(text: str, work: _Work) -> Any:
    """Evaluate one value, its work counted in ``work`` (shared by the values of one file)."""
    # The common plain values skip the parser.
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    if text.isidentifier():
        if text in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[text]
        if not (text.startswith("__") or text.endswith("__")) and text.isascii():
            return text
    first = text[:1]
    if first in ("'", '"') and len(text) >= 2 and text[-1] == first:
        inner = text[1:-1]
        if first not in inner and "\\" not in inner and "\n" not in inner:
            return inner
    if len(text) > MAX_TEXT:
        msg = f"the text is {len(text):,} characters long, more than the limit of {MAX_TEXT:,}"
        raise _Refused(msg, "make the value shorter")
    try:
        node = _parse_expression(text)
    except SyntaxError as exc:
        detail = (exc.msg or "invalid syntax").rstrip(".")
        quoted = repr(text) if "\n" not in text and len(text) <= 60 else "the text in quotes"
        msg = f"it is not a valid Python expression ({detail})"
        raise _Refused(msg, f"write {quoted} to make it a string") from None
    except (RecursionError, MemoryError):
        msg = "it nests too deeply to parse"
        raise _Refused(msg, "write a flatter value") from None
    if type(node) is ast.Name:
        name = node.id
        if name.startswith("__") or name.endswith("__"):
            raise _Refused(_name_reason(name, called=False))
        return name
    try:
        return _plain(_eval(node, 0, work))
    finally:
        work.forget()
