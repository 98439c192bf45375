"""The formula language: examples, edge cases, and properties over random expression trees and
random text (``ANALYTICS_TEST_HYPOTHESIS_EXAMPLES`` raises the number of examples, default 200)."""

from __future__ import annotations

import builtins
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics_pipeline.metrics import formula as f

EXAMPLES = int(os.environ.get("ANALYTICS_TEST_HYPOTHESIS_EXAMPLES", "200"))


@pytest.mark.parametrize(("text", "counts", "value"), [
    ("(delivered / sent) * 100", {"delivered": 3, "sent": 4}, 75.0),
    ("purchase / pageview", {"purchase": 1, "pageview": 0}, None),  # division by zero is null
    ("a / (b - b)", {"a": 1, "b": 5}, None),
    ("0 / 0 + 1", {}, None),  # null propagates through arithmetic
    ("-a", {"a": 2}, -2.0),
    ("--a", {"a": 2}, 2.0),
    ("+a - -b", {"a": 2, "b": 3}, 5.0),
    ("1 - 2 - 3", {}, -4.0),  # left-associative
    ("8 / 4 / 2", {}, 1.0),
    ("2 + 3 * 4", {}, 14.0),  # precedence
    ("(2 + 3) * 4", {}, 20.0),
    ('"Add to cart" / "page view"', {"Add to cart": 1, "page view": 4}, 0.25),
    ('"say \\"hi\\"" * 2', {'say "hi"': 3}, 6.0),
    ("1.5e2 + .5", {}, 150.5),
    ("missing * 2", {}, None),  # a name without a count is null, never an error
])
def test_values(text, counts, value):
    assert f.evaluate(f.parse(text), counts) == value


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty formula"),
    ("a +", "ends where"),
    ("(a", "missing ')'"),
    ("a)", "unexpected ')'"),
    ("a b", "unexpected 'b'"),
    ("a ^ 2", "unexpected character '^'"),
    ("__import__('os')", "unexpected character \"'\""),
    ('"unterminated', "unterminated quoted name"),
    ('""', "empty quoted name"),
    ("1e999", "too large"),
    ("(" * 500 + "a" + ")" * 500, "nested more than"),
    ("a" * 3000, "longer than"),
])
def test_errors_name_the_problem(text, problem):
    with pytest.raises(f.FormulaError) as info:
        f.parse(text)
    assert problem in str(info.value)


def test_names_in_order_of_first_use():
    assert f.names(f.parse('b / a + b * "c d"')) == ["b", "a", "c d"]


leaves = st.one_of(st.floats(min_value=0, max_value=1e6, allow_nan=False).map(f.Number),
                   st.text(min_size=1, max_size=6).map(f.Name))
trees = st.recursive(leaves, lambda children: st.one_of(
    children.map(f.Negate),
    st.tuples(st.sampled_from("+-*/"), children, children).map(lambda t: f.Binary(*t)),
), max_leaves=20)


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)
@given(tree=trees)
def test_random_trees_round_trip_through_text(tree):
    assert f.parse(f.unparse(tree)) == tree


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, counts=st.dictionaries(st.text(min_size=1, max_size=6), st.integers(0, 1000)))
def test_random_trees_evaluate_to_a_finite_number_or_null(tree, counts):
    value = f.evaluate(tree, counts)
    assert value is None or (isinstance(value, float) and value == value and abs(value) != float("inf"))


@settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list('ab1.e+-*/() "\\\x00\n^_')), max_size=40) | st.text(max_size=40))
def test_any_text_parses_or_raises_a_formula_error(text):
    try:
        tree = f.parse(text)
    except f.FormulaError as exc:
        assert str(exc)
        return
    assert f.parse(f.unparse(tree)) == tree


def test_the_parser_never_calls_eval_or_exec(monkeypatch):
    def forbidden(*_args, **_kwargs):
        raise AssertionError("eval/exec/compile called")

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden)
    assert f.evaluate(f.parse("(a / b) * 100"), {"a": 1, "b": 2}) == 50.0
