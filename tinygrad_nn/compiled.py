"""A recorded step as one function of straight-line NumPy: forward, backward and the writes.

`tinygrad_nn.capture_step` uses this when every op of a recording has a kernel
(`tinygrad_nn.kernels`); otherwise it replays the ops through the engine. The function
builds no Tensor, node or graph: values are local variables named after their slots
(``x`` inputs, ``p`` parameters read afresh each call, ``v`` op outputs, ``g`` gradients),
and each op's kernel writes its forward and backward lines. The backward lines come in
the engine's order (`tinygrad_nn.autograd.backpropagate`: the newest node first, a
value's gradient summed over its uses in that order before it flows on), so the step
computes bitwise what eager execution computes. Gradients go into ``.grad`` at the end,
all or nothing, through the engine's `tinygrad_nn.autograd.write_gradients`.

Example of what ``step.source`` shows (the article's network, one layer)::

    def step(x0, x1):
        optimizer.zero_grad()
        p2 = t2._data
        p3 = t3._data
        # v4 = Linear(x0, p2, p3)
        v4 = dot(x0, p2.T)
        v4 += p3
        ...
        # backward: g<n> is the gradient of the loss with respect to v<n>
        g6 = seed
        ...
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.autograd import Function
from tinygrad_nn.kernels import KERNELS, Kernel, Site
from tinygrad_nn.optim.optimizer import Optimizer
from tinygrad_nn.tensor import Tensor

__all__ = [
    "RELEASE_SIZE",
    "Compiled",
    "comment_text",
    "derivative_text",
    "gradient_routes",
    "op_label",
    "straight_line",
    "tuple_text",
]

Step = tuple[type[Function], tuple[Tensor, ...], dict[str, Any], Tensor]
OpEntry = tuple[type[Function], Any, tuple[int, ...], tuple[bool, ...], int]

# The NumPy functions kernels write, bound as the compiled function's globals.
NUMPY_NAMES = (
    "absolute",
    "asarray",
    "dot",
    "einsum",
    "empty",
    "exp",
    "log",
    "matmul",
    "maximum",
    "sign",
    "swapaxes",
    "tanh",
    "transpose",
)

_numbers = itertools.count(1)  # names each compiled step's source file
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
_ALIAS = re.compile(r"    (g\d+) = ([A-Za-z_]\w*)")  # a gradient that is a copy of a name
# Variables of at least this many elements are deleted after their last use (smaller ones
# cost more to delete than they hold).
RELEASE_SIZE = 1 << 14


class Compiled(NamedTuple):
    """What `straight_line` makes: the source and the function it defines.

    Its ops cannot raise the errors a replay names after an op (`capture`'s guard checks
    every input's and parameter's shape and dtype before each call), so no line map.
    """

    source: str
    function: Callable[..., Any]


def straight_line(
    steps: Sequence[Step],
    ops: Sequence[OpEntry],
    externals: Sequence[tuple[int, Tensor]],
    input_count: int,
    output_slots: tuple[int, ...],
    backward_plan: Sequence[int] | None,
    optimizer: Any = None,
) -> Compiled | str:
    """Compile a recording (see `tinygrad_nn.capture`'s ``_Program``) into one function.

    Args:
        steps: what the recording saw, per op: (op, input Tensors, kwargs, output).
        ops: per op: (op, forward, input slots, which inputs need grad, output slot).
        externals: (slot, tensor) of the parameters and constants the step reads.
        input_count: how many inputs the function takes (slots ``0 .. input_count - 1``).
        output_slots: the slots returned, the loss first.
        backward_plan: the op indices backward visits, newest first; None for inference.
        optimizer: zeroed first and stepped last, or None.

    Returns:
        A `Compiled`, or why not (the first op without a kernel) as a string.
    """
    names = {slot: f"x{slot}" for slot in range(input_count)}
    namespace: dict[str, Any] = {name: getattr(np, name) for name in NUMPY_NAMES}
    namespace.update(
        unbroadcast=autograd.unbroadcast,
        make=Tensor._make,
        write=autograd.write_gradients,
        optimizer=optimizer,
    )
    lines = [f"def step({', '.join(names.values())}):"]
    if optimizer is not None:
        lines.append("    optimizer.zero_grad()")
    for slot, tensor in externals:
        names[slot] = f"p{slot}"
        namespace[f"t{slot}"] = tensor
        lines.append(f"    p{slot} = t{slot}._data")
    made = _forward_lines(steps, ops, names, namespace, lines)
    if isinstance(made, str):
        return made
    sites, kernels = made
    if backward_plan is not None:
        direct = _assigns_grads(optimizer, externals)
        written = _backward_lines(sites, kernels, ops, externals, backward_plan, namespace, lines)
        lines += _write_lines(written, direct)
        if optimizer is not None:
            lines += _update_lines(optimizer, written if direct else None, namespace)
    lines.append(_return_line(sites, ops, names, output_slots))
    temporaries = {name for site in sites for name in site.temporaries}
    lines = _released_early(_without_aliases(lines, temporaries), _large_variables(sites))
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<capture_step compiled {next(_numbers)}>", "exec"), namespace)
    # Popped: the function and its globals (which hold the parameters) would otherwise
    # form a cycle that outlives the step.
    return Compiled(source, namespace.pop("step"))


def _forward_lines(
    steps: Sequence[Step],
    ops: Sequence[OpEntry],
    names: dict[int, str],
    namespace: dict[str, Any],
    lines: list[str],
) -> tuple[list[Site], list[Kernel]] | str:
    """Append each op's forward lines to ``lines``, naming its output ``v<slot>``.

    Returns the ops' sites and kernels, or why an op cannot be compiled.
    """
    sites: list[Site] = []
    kernels: list[Kernel] = []
    for (cls, inputs, kwargs, output), (_, _, slots, needs, out_slot) in zip(
        steps, ops, strict=True
    ):
        site = Site(
            op=cls,
            out=f"v{out_slot}",
            args=tuple(names[slot] for slot in slots),
            shapes=tuple(t._data.shape for t in inputs),
            dtypes=tuple(t._data.dtype for t in inputs),
            out_shape=output._data.shape,
            out_dtype=output._data.dtype,
            kwargs=kwargs,
            needs=needs,
        )
        factory = KERNELS.get(cls)
        compiled = factory(site) if factory is not None else None
        if compiled is None:
            return f"{op_label(cls)} has no kernel for these inputs"
        names[out_slot] = site.out
        sites.append(site)
        kernels.append(compiled)
        namespace.update(site.constants)
        lines.append(f"    # {site.out} = {op_label(cls)}({', '.join(site.args)})")
        lines += [f"    {line}" for line in compiled.forward]
    return sites, kernels


def _update_lines(
    optimizer: Any, written: list[tuple[int, Tensor, bool]] | None, namespace: dict[str, Any]
) -> list[str]:
    """The optimizer's update: its `update_source` inlined where it offers one for the
    parameters the step wrote (``written``; None when the step did not assign them), else
    a call of its ``step()``."""
    update = None
    if written is not None and callable(getattr(optimizer, "update_source", None)):
        update = optimizer.update_source(
            {id(tensor): (f"t{slot}", f"p{slot}", f"g{slot}") for slot, tensor, _ in written}
        )
    name = type(optimizer).__name__
    if update is None:
        return [f"    optimizer.step()  # {comment_text(name)}.step, from .grad"]
    namespace["version"] = autograd.next_version
    return [f"    # {comment_text(name)}.step, inlined", *(f"    {line}" for line in update)]


def _return_line(
    sites: list[Site], ops: Sequence[OpEntry], names: dict[int, str], output_slots: tuple[int, ...]
) -> str:
    """``return`` of the outputs as Tensors without a graph (a 0-d result of NumPy
    arithmetic may be a NumPy scalar: made an array first)."""
    made = {entry[4]: site for entry, site in zip(ops, sites, strict=True)}
    returned = []
    for slot in output_slots:
        value = names[slot]
        scalar = slot in made and made[slot].out_shape == ()
        returned.append(f"make(asarray({value}), False)" if scalar else f"make({value}, False)")
    return f"    return {tuple_text(returned)}"


def _large_variables(sites: list[Site]) -> set[str]:
    """The variables worth deleting after their last use: an op's output, its gradient
    and its temporaries, when the op's largest array has `RELEASE_SIZE` elements."""
    large: set[str] = set()
    for site in sites:
        if max(int(np.prod(shape)) for shape in (site.out_shape, *site.shapes)) >= RELEASE_SIZE:
            large.update((site.out, f"g{site.out[1:]}", *site.temporaries))
    return large


def _backward_lines(
    sites: list[Site],
    kernels: list[Kernel],
    ops: Sequence[OpEntry],
    externals: Sequence[tuple[int, Tensor]],
    plan: Sequence[int],
    namespace: dict[str, Any],
    lines: list[str],
) -> list[tuple[int, Tensor, bool]]:
    """Append the backward to ``lines``: each planned op's kernel lines, newest first, each
    gradient summed over its uses in that order (as `tinygrad_nn.autograd.backpropagate`
    sums it). Returns the parameters that got a gradient: (slot, tensor, whether the
    gradient ``g<slot>`` is an array of its own), in the order the engine collects them."""
    loss = sites[plan[0]]
    seed = np.array(1, dtype=loss.out_dtype).reshape(loss.out_shape)
    seed.flags.writeable = False
    namespace["seed"] = seed
    loss_slot = ops[plan[0]][4]
    lines += [
        "    # backward: g<n> is the gradient of the loss with respect to v<n> (or p<n>)",
        f"    g{loss_slot} = seed",
    ]
    leaf_of = {slot: tensor for slot, tensor in externals if tensor.requires_grad}
    fresh: dict[int, bool] = {}  # slot -> whether its gradient is an array of its own
    for index, edges in gradient_routes(ops, plan):
        cls, out_slot = ops[index][0], ops[index][4]
        body, grads = kernels[index].backward(f"g{out_slot}")
        namespace.update(sites[index].constants)
        rule = derivative_text(cls)
        label = op_label(cls)
        lines.append(f"    # {label}: {rule}" if rule else f"    # {label}")
        lines += [f"    {line}" for line in body]
        for position, slot, first in edges:
            grad = grads[position]
            if grad is None:
                raise RuntimeError(
                    f"the kernel of {label} gave no gradient for its input {position}, which "
                    "needs one; a kernel returns a Grad for every input in site.needs"
                )
            if first:
                lines.append(f"    g{slot} = {grad.expression}")
                fresh[slot] = grad.fresh
            else:
                lines.append(f"    g{slot} = g{slot} + {grad.expression}")
                fresh[slot] = True
    return [(slot, leaf_of[slot], is_fresh) for slot, is_fresh in fresh.items() if slot in leaf_of]


def gradient_routes(
    ops: Sequence[OpEntry], plan: Sequence[int]
) -> list[tuple[int, list[tuple[int, int, bool]]]]:
    """Where the engine sends gradients over a recorded plan: for each planned op, newest
    first, its inputs that need one as (position, slot, whether it is the slot's first
    gradient; later ones are added to it), as `tinygrad_nn.autograd.backpropagate` sums
    them. Compiled steps write code from it, replays list it."""
    seen: set[int] = set()
    routes = []
    for index in plan:
        _, _, slots, needs, _ = ops[index]
        edges = []
        for position, (slot, need) in enumerate(zip(slots, needs, strict=True)):
            if need:
                edges.append((position, slot, slot not in seen))
                seen.add(slot)
        routes.append((index, edges))
    return routes


def _without_aliases(lines: list[str], temporaries: set[str]) -> list[str]:
    """``lines`` without the copies ``g<n> = <temporary>`` that hand a backward kernel's
    result on as a gradient: the kernel's lines assign ``g<n>`` itself, as one would write
    it by hand (``g8 = sign(v9)`` and ``g8 *= g9`` rather than through ``v9_d``). Only a
    temporary that the backward made and that nothing reads after the copy is renamed, and
    only where ``g<n>`` is not used between the temporary's first line and the copy."""
    code = [line.split("#", 1)[0] for line in lines]
    users: dict[str, list[int]] = {}  # identifier -> the lines using it, in order
    for index, text in enumerate(code):
        for name in set(_IDENTIFIER.findall(text)):
            users.setdefault(name, []).append(index)
    backward_start = next((i for i, line in enumerate(lines) if "# backward:" in line), len(lines))
    kept = list(lines)
    for index, text in enumerate(code):
        alias = _ALIAS.fullmatch(text.rstrip())
        if alias is None or alias[2] not in temporaries:
            continue
        grad, temp = alias[1], alias[2]
        uses, grad_uses = users[temp], users.get(grad, [])
        used_between = bisect.bisect_left(grad_uses, uses[0]) < bisect.bisect_left(grad_uses, index)
        if uses[0] < backward_start or uses[-1] != index or used_between:
            continue

        def renamed(match: re.Match[str], temp: str = temp, grad: str = grad) -> str:
            return grad if match[0] == temp else match[0]

        for i in uses[:-1]:
            kept[i] = _IDENTIFIER.sub(renamed, kept[i])
        users[grad] = sorted({*grad_uses, *uses[:-1]} - {index})
        kept[index] = ""
    return [line for line in kept if line]


def _released_early(lines: list[str], large: set[str]) -> list[str]:
    """``lines`` with ``del name`` after the last statement that uses each variable in
    ``large``: a function's locals live until it returns, so a compiled step would
    otherwise hold every activation and gradient at once (eager mode frees them node by
    node). A statement is a line at the function's top level with the lines nested under
    it (and an ``else:``); comments do not count as uses."""
    statements: list[list[str]] = []
    for line in lines[1:]:  # after the def line
        nested = line.startswith("        ") or line.startswith("    else")
        if nested and statements:
            statements[-1].append(line)
        else:
            statements.append([line])
    last_use: dict[str, int] = {}
    for index, statement in enumerate(statements):
        code = " ".join(line.split("#", 1)[0] for line in statement)
        for name in _IDENTIFIER.findall(code):
            if name in large:
                last_use[name] = index
    released: list[str] = [lines[0]]
    for index, statement in enumerate(statements):
        released += statement
        done = sorted(name for name, last in last_use.items() if last == index)
        if done and not statement[0].lstrip().startswith("return"):
            released.append(f"    del {', '.join(done)}")
    return released


def _write_lines(written: list[tuple[int, Tensor, bool]], direct: bool) -> list[str]:
    """The gradients into ``.grad``: assigned (after `Optimizer.zero_grad` every ``.grad``
    is None, and nothing can fail any more), else through `autograd.write_gradients`, all
    or nothing."""
    if not written:
        return []
    values = {
        slot: f"asarray(g{slot})" if tensor._data.ndim == 0 else f"g{slot}"
        for slot, tensor, _ in written
    }
    if direct:
        lines = ["    # into .grad (None since zero_grad)"]
        for slot, _, fresh in written:
            value = values[slot] if fresh else f"{values[slot]}.copy()"
            lines.append(f"    t{slot}.grad = {value}")
        return lines
    entries = ", ".join(f"[t{slot}, {values[slot]}, {fresh}]" for slot, _, fresh in written)
    return [
        "    # into .grad, all or nothing (autograd.write_gradients)",
        f"    write([{entries}])",
    ]


def _assigns_grads(optimizer: Any, externals: Sequence[tuple[int, Tensor]]) -> bool:
    """Whether the step may assign ``.grad`` after ``optimizer.zero_grad()``: that is
    `Optimizer.zero_grad` (every ``.grad`` to None) and every parameter the step
    differentiates is one of the optimizer's."""
    if not isinstance(optimizer, Optimizer) or type(optimizer).zero_grad is not Optimizer.zero_grad:
        return False
    owned = {id(p) for group in optimizer.param_groups for p in group["params"]}
    return all(id(tensor) in owned for _, tensor in externals if tensor.requires_grad)


def derivative_text(cls: type[Function]) -> str:
    """The derivative rule of an op's docstring (``f'(x) = ...`` or ``df/dx = ...``), or ""."""
    for line in (cls.__doc__ or "").splitlines():
        for marker in ("df/", "f'("):
            start = line.find(marker)
            if start >= 0:
                return comment_text(line[start:].split("  (")[0].strip().rstrip("."))[:90]
    return ""


def op_label(cls: type[Function]) -> str:
    """The op's name for comments of generated source: `Function.op_name` where it is an
    identifier, else the class name."""
    name = cls.op_name()
    return name if isinstance(name, str) and name.isidentifier() else comment_text(cls.__name__)


def comment_text(text: str) -> str:
    """``text`` safe inside a ``#`` comment of generated source: printable, one line."""
    return "".join(char for char in text if char.isprintable())


def tuple_text(items: Iterable[str]) -> str:
    """Python source of a tuple of ``items``: ``(a,)`` for one, ``(a, b)`` for more."""
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
