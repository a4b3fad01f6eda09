"""What a prompt template's text may be, and filling it in: Jinja2's sandboxed environment cut
down to what a brief needs.

This is the rule of the prompt library (issue 22) for template TEXT, the one place that says
which texts are valid and how a filled prompt is produced; chat, the CLI and the HTTP API all
call it, and the domain (`scoring.template_library`) is handed its verdict (`PromptText`)
rather than importing a template engine, as the layers require. It lives here, beside the
message templates' own Jinja environment, and shares nothing with it.

Invariants:

* A text is checked before anything stores it (`check`), and every problem has its own `code`:
  `empty`, `too_long`, `syntax`, `sandbox` (an attribute or item read, a call, a loop, a
  macro, an assignment, an include or import, a filter outside `FILTERS`, arithmetic),
  `undefined_variable` (a name no brief can fill: Jinja's own names, or not a plain
  identifier), `too_many_variables`.
* Allowed is an allowlist of syntax nodes: text, `{{ name }}`, `{{ name | filter }}` with
  constant arguments, `~` concatenation, `{% if %}` with `not`/`and`/`or`/`==`/`!=`, and
  `{% raw %}`. Nothing loops, so a filled prompt is at most the text plus each value times
  the places it appears; it is refused over `MAX_RENDERED_CHARS` all the same. The
  environment is a `SandboxedEnvironment` whose attribute and call checks always say no and
  which has no globals, so even a node this allowlist missed could not reach Python objects.
* `StrictUndefined`: filling in a prompt without one of its variables is a `missing_variable`
  naming it, never a silently empty gap; a value for a name the text does not read is an
  `unknown_variable` (a typo, said out loud).
* Variables are listed in the order they first appear in the text (the order the console
  asks for them).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

MAX_TEMPLATE_CHARS = 20_000
MAX_VARIABLES = 20
MAX_VALUE_CHARS = 50_000
MAX_RENDERED_CHARS = 100_000
# Filters that change case or whitespace, or supply a default: none can grow a value much.
FILTERS = ("capitalize", "default", "lower", "title", "trim", "upper")
VARIABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
# Names Jinja gives a meaning of its own (or Python's constants): never a brief's variable.
RESERVED_NAMES = frozenset(
    {
        "loop",
        "self",
        "super",
        "caller",
        "varargs",
        "kwargs",
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
        "true",
        "false",
        "none",
        "True",
        "False",
        "None",
    }
)

_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
    nodes.CondExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Filter,
)
_ALLOWED_COMPARISONS = frozenset({"eq", "ne"})
# What a refused construct is, in words a template author knows.
_REFUSED = {
    nodes.Getattr: "reads an attribute (`x.y`)",
    nodes.Getitem: "reads an item (`x[y]`)",
    nodes.Call: "calls a function",
    nodes.For: "loops (`{% for %}`)",
    nodes.Macro: "defines a macro",
    nodes.CallBlock: "calls a macro",
    nodes.Assign: "sets a variable (`{% set %}`)",
    nodes.AssignBlock: "sets a variable (`{% set %}`)",
    nodes.Include: "includes another template",
    nodes.Import: "imports another template",
    nodes.FromImport: "imports another template",
    nodes.Extends: "extends another template",
    nodes.Block: "defines a block",
    nodes.FilterBlock: "uses a filter block",
    nodes.With: "uses `{% with %}`",
    nodes.Test: "uses a test (`is ...`)",
    nodes.BinExpr: "does arithmetic",
    nodes.UnaryExpr: "does arithmetic",
    nodes.List: "builds a list",
    nodes.Tuple: "builds a tuple",
    nodes.Dict: "builds a dict",
    nodes.Slice: "slices a value",
}


class PromptTextInvalid(ValueError):
    """A template text that cannot be stored, or a prompt that cannot be filled in; `code`
    says which rule and `message` says what to change."""

    def __init__(self, code: str, message: str, **facts: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.facts = facts


@dataclass(frozen=True)
class PromptText:
    """A checked template text and the variables it reads, in order of first appearance."""

    text: str
    variables: tuple[str, ...]


class _Sandbox(SandboxedEnvironment):
    """No attribute of any object and no callable is safe: a brief's values are strings."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def is_safe_callable(self, obj: Any) -> bool:
        return False


@lru_cache(maxsize=1)
def _environment() -> _Sandbox:
    env = _Sandbox(
        undefined=StrictUndefined,
        autoescape=False,  # a prompt is plain text, not HTML
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.globals.clear()
    env.filters = {name: env.filters[name] for name in FILTERS}
    env.tests = {}
    return env


def _refusal(node: nodes.Node) -> str | None:
    """Why `node` is refused, or None when the allowlist takes it."""
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            return f"uses the filter `{node.name}` (allowed: {', '.join(FILTERS)})"
        return None
    if isinstance(node, nodes.Operand) and node.op not in _ALLOWED_COMPARISONS:
        return f"compares with `{node.op}` (only == and != are allowed)"
    if isinstance(node, nodes.Name) and node.ctx != "load":
        return "sets a variable"
    if isinstance(node, nodes.Const) and not isinstance(node.value, str | int | bool | None):
        return "uses a constant that is not text, a whole number or true/false"
    if isinstance(node, _ALLOWED_NODES):
        return None
    for kind, words in _REFUSED.items():
        if isinstance(node, kind):
            return words
    return f"uses `{type(node).__name__}`"


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    """Every node, in the order its source appears (Jinja's fields are in source order)."""
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def check(text: str) -> PromptText:
    """The checked text and its variables; raises PromptTextInvalid with the first problem."""
    if not text or text.isspace():
        raise PromptTextInvalid("empty", "the template has no text")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise PromptTextInvalid(
            "too_long",
            f"the template is {len(text):,} characters long; a template takes at most "
            f"{MAX_TEMPLATE_CHARS:,}. Ask for the material as a variable instead of pasting it.",
            chars=len(text),
            limit=MAX_TEMPLATE_CHARS,
        )
    return _checked(text)


@lru_cache(maxsize=256)
def _checked(text: str) -> PromptText:
    env = _environment()
    try:
        tree = env.parse(text)
    except TemplateSyntaxError as error:
        raise PromptTextInvalid(
            "syntax",
            f"the template does not parse (line {error.lineno}): {error.message}",
            line=error.lineno,
        ) from None
    variables: dict[str, None] = {}
    for node in _walk(tree):
        refusal = _refusal(node)
        if refusal is not None:
            line = getattr(node, "lineno", None)
            raise PromptTextInvalid(
                "sandbox",
                f"the template {refusal}{f' (line {line})' if line else ''}; a template may "
                "only show variables "
                "(`{{ name }}`), filter them and test them with `{% if %}`",
                line=line,
            )
        if isinstance(node, nodes.Name):
            variables.setdefault(node.name, None)
    for name in variables:
        if name in RESERVED_NAMES or not VARIABLE_NAME.fullmatch(name):
            raise PromptTextInvalid(
                "undefined_variable",
                f"`{name}` is not a variable anyone can fill in: a variable is a name of "
                "letters, digits and underscores (at most 40, starting with a letter) that is "
                "not one of Jinja's own names (loop, range, self, ...)",
                variable=name,
            )
    if len(variables) > MAX_VARIABLES:
        raise PromptTextInvalid(
            "too_many_variables",
            f"the template reads {len(variables)} variables; a template takes at most "
            f"{MAX_VARIABLES}",
            count=len(variables),
            limit=MAX_VARIABLES,
        )
    checked = PromptText(text, tuple(variables))
    _filled(checked, {name: name for name in checked.variables})  # compiles and runs once
    return checked


def render(text: str, values: Mapping[str, object]) -> str:
    """The prompt `text` filled in with `values` (one per variable, each a string or a
    number); raises PromptTextInvalid (`missing_variable`, `unknown_variable`,
    `invalid_value`, `value_too_long`, `rendered_too_long`, or the text's own problem)."""
    checked = check(text)
    missing = [name for name in checked.variables if name not in values]
    if missing:
        raise PromptTextInvalid(
            "missing_variable",
            f"give a value for {_names(missing)}",
            variables=missing,
        )
    unknown = sorted(name for name in values if name not in checked.variables)
    if unknown:
        raise PromptTextInvalid(
            "unknown_variable",
            f"the template has no variable {_names(unknown)} (its variables: "
            f"{', '.join(checked.variables) or 'none'})",
            variables=unknown,
        )
    strings: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise PromptTextInvalid(
                "invalid_value", f"the value of `{name}` must be text", variables=[name]
            )
        strings[name] = str(value)
        if len(strings[name]) > MAX_VALUE_CHARS:
            raise PromptTextInvalid(
                "value_too_long",
                f"the value of `{name}` is {len(strings[name]):,} characters long; a value "
                f"takes at most {MAX_VALUE_CHARS:,}",
                variables=[name],
            )
    return _filled(checked, strings)


def _filled(checked: PromptText, values: Mapping[str, str]) -> str:
    try:
        filled = _environment().from_string(checked.text).render(values)
    except UndefinedError as error:
        raise PromptTextInvalid(
            "missing_variable", f"a variable has no value: {error.message}"
        ) from None
    except SecurityError as error:
        raise PromptTextInvalid("sandbox", f"the template {error}") from None
    except TemplateError as error:
        raise PromptTextInvalid("syntax", f"the template does not compile: {error}") from None
    if len(filled) > MAX_RENDERED_CHARS:
        raise PromptTextInvalid(
            "rendered_too_long",
            f"the filled prompt is {len(filled):,} characters long; at most "
            f"{MAX_RENDERED_CHARS:,} are allowed",
            chars=len(filled),
            limit=MAX_RENDERED_CHARS,
        )
    return filled


def _names(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names)
