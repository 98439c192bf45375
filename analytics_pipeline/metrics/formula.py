"""The formula language of custom metrics: a small recursive-descent parser, never ``eval``.

    formula  := sum
    sum      := product (("+" | "-") product)*
    product  := unary (("*" | "/") unary)*
    unary    := "-" unary | "+" unary | atom
    atom     := NUMBER | NAME | QUOTED | "(" sum ")"

A ``NAME`` (``[A-Za-z_][A-Za-z0-9_]*``) or a ``QUOTED`` name (``"Add to cart"``, with ``\\"``
and ``\\\\`` as escapes) is the count of matching events: ``pageview`` counts pageviews, any other
name counts custom events with that ``event_name`` (or a named count of the metric file).
Division by zero, and any arithmetic on a missing value, gives ``None`` (null), never an error.
Every problem in the text raises :class:`FormulaError` with the position it was found at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

MAX_LENGTH = 2000
MAX_DEPTH = 60
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class FormulaError(ValueError):
    """A formula that cannot be parsed; ``position`` is 0-based (or None)."""

    def __init__(self, problem: str, position: int | None = None) -> None:
        where = f" at character {position + 1}" if position is not None else ""
        super().__init__(problem + where)
        self.problem, self.position = problem, position


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: "Node"


@dataclass(frozen=True)
class Binary:
    op: str
    left: "Node"
    right: "Node"


Node = Number | Name | Negate | Binary


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    position: int
    value: object = None


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "+-*/()":
            out.append(_Token("op", ch, i))
            i += 1
        elif ch == '"':
            start, i, chars = i, i + 1, []
            while True:
                if i >= len(text):
                    raise FormulaError("unterminated quoted name", start)
                if text[i] == "\\":
                    if i + 1 >= len(text) or text[i + 1] not in '"\\':
                        raise FormulaError('in a quoted name only \\" and \\\\ are escapes', i)
                    chars.append(text[i + 1])
                    i += 2
                elif text[i] == '"':
                    i += 1
                    break
                else:
                    chars.append(text[i])
                    i += 1
            name = "".join(chars)
            if not name:
                raise FormulaError("empty quoted name", start)
            out.append(_Token("name", text[start:i], start, name))
        elif (m := _NUMBER.match(text, i)) is not None:
            value = float(m.group(0))
            if not math.isfinite(value):
                raise FormulaError(f"number {m.group(0)!r} is too large", i)
            out.append(_Token("number", m.group(0), i, value))
            i = m.end()
        elif (m := _NAME.match(text, i)) is not None:
            out.append(_Token("name", m.group(0), i, m.group(0)))
            i = m.end()
        else:
            raise FormulaError(f"unexpected character {ch!r} (quote names with other characters: \"my name\")", i)
    out.append(_Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def parse(self) -> Node:
        if self.current.kind == "end":
            raise FormulaError("empty formula", 0)
        node = self.sum(0)
        if self.current.kind != "end":
            raise FormulaError(f"unexpected {self.current.text!r} after a complete expression", self.current.position)
        return node

    def sum(self, depth: int) -> Node:
        node = self.product(depth)
        while self.current.kind == "op" and self.current.text in "+-":
            op = self.take().text
            node = Binary(op, node, self.product(depth))
        return node

    def product(self, depth: int) -> Node:
        node = self.unary(depth)
        while self.current.kind == "op" and self.current.text in "*/":
            op = self.take().text
            node = Binary(op, node, self.unary(depth))
        return node

    def unary(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise FormulaError(f"nested more than {MAX_DEPTH} levels deep", self.current.position)
        token = self.current
        if token.kind == "op" and token.text in "+-":
            self.take()
            operand = self.unary(depth + 1)
            return Negate(operand) if token.text == "-" else operand
        return self.atom(depth)

    def atom(self, depth: int) -> Node:
        token = self.take()
        if token.kind == "number":
            return Number(token.value)  # type: ignore[arg-type]
        if token.kind == "name":
            return Name(token.value)  # type: ignore[arg-type]
        if token.kind == "op" and token.text == "(":
            node = self.sum(depth + 1)
            closing = self.take()
            if closing.text != ")" or closing.kind != "op":
                raise FormulaError("missing ')'", closing.position)
            return node
        if token.kind == "end":
            raise FormulaError("the formula ends where a number, name or '(' was expected", token.position)
        raise FormulaError(f"unexpected {token.text!r} where a number, name or '(' was expected", token.position)


def parse(text: str) -> Node:
    """The syntax tree of ``text``; raises :class:`FormulaError` and nothing else."""
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise FormulaError(f"longer than {MAX_LENGTH} characters")
    return _Parser(text).parse()


def names(node: Node) -> list[str]:
    """The names a formula uses, in order of first appearance."""
    out: list[str] = []

    def walk(n: Node) -> None:
        if isinstance(n, Name):
            if n.name not in out:
                out.append(n.name)
        elif isinstance(n, Negate):
            walk(n.operand)
        elif isinstance(n, Binary):
            walk(n.left)
            walk(n.right)

    walk(node)
    return out


def evaluate(node: Node, counts: Mapping[str, float | None]) -> float | None:
    """The value of the formula for the given counts; ``None`` on division by zero, a missing
    count, or a result that is not a finite number."""
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Name):
        value = counts.get(node.name)
        return None if value is None else float(value)
    if isinstance(node, Negate):
        value = evaluate(node.operand, counts)
        return None if value is None else -value
    left, right = evaluate(node.left, counts), evaluate(node.right, counts)
    if left is None or right is None:
        return None
    if node.op == "+":
        result = left + right
    elif node.op == "-":
        result = left - right
    elif node.op == "*":
        result = left * right
    else:
        if right == 0:
            return None
        result = left / right
    return result if math.isfinite(result) else None


def _quote(name: str) -> str:
    if _NAME.fullmatch(name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unparse(node: Node) -> str:
    """Formula text for ``node`` (fully parenthesised) that parses back to the same tree."""
    if isinstance(node, Number):
        return repr(node.value) if node.value >= 0 else f"({repr(node.value)})"
    if isinstance(node, Name):
        return _quote(node.name)
    if isinstance(node, Negate):
        return f"-({unparse(node.operand)})"
    return f"({unparse(node.left)} {node.op} {unparse(node.right)})"
