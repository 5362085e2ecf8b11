"""`capture_step`: record a step's ops once, then run them as compiled straight-line NumPy.

Eager execution builds the graph anew on every call: each op goes through Module calls,
argument handling and `Function.apply`, creates a Tensor and a node, and backward sorts
the graph again. For a small network that bookkeeping costs more than the arithmetic.
A captured step runs the function eagerly once while recording every op it applies,
then runs the recording on new inputs of the same shapes and dtypes, in one of two ways:

    compiled        when every recorded op has a kernel (`tinygrad_nn.kernels`: the
                    ops of MLPs and their losses): one Python function of straight-line
                    NumPy (`tinygrad_nn.compiled`): zero_grad, each op's forward lines,
                    each op's backward lines in the engine's order, the write of
                    ``.grad`` and, for SGD, the update; no Tensor, node or graph walk
    replayed        otherwise (or with ``compiled=False``): the forward as straight-line
                    calls of each op's ``forward``, linking the nodes into a graph as
                    Function.apply would, then the engine's own backward loop
                    (`tinygrad_nn.autograd.backpropagate`) over that graph and the
                    optimizer's ``zero_grad()`` and ``step()``

``step.source`` shows the code a call runs: for a compiled step the whole backprop the
framework derived, as a hand-written one would read; for a replay the forward, one line
per op, and the backward listed node by node (which gradient each node's rule turns into
which, and the rule itself). Either way the step computes bitwise what eager execution
computes, shared weights and accumulation included (kernels make the same NumPy calls in
the same order as their ops; tests/test_kernels.py checks each one); a backward that
raises leaves every ``.grad`` as it was.

Example:
    >>> model = tnn.nn.MLP([1, 16, 2])
    >>> optimizer = tnn.optim.SGD(model.parameters(), lr=0.1)
    >>> @tnn.capture_step(optimizer=optimizer)
    ... def train_step(x, y):
    ...     return tnn.losses.squared_error(model(x), y) / (2 * len(x))
    >>> for x, y in tnn.data.batches(inputs, targets, batch_size=32):
    ...     loss = train_step(x, y)     # zero_grad, forward, backward, optimizer.step()
    >>> print(train_step.source)        # the compiled step, backward included

A recording is a trace, like ``torch.jit.trace``: Python control flow and values read out
of tensors (``.item()``, ``.data``, ``.numpy()``, comparisons such as ``x > 0``) are frozen
at the first call. Write the function with tinygrad_nn ops on its inputs and parameters;
parameters are read afresh on every call, so optimizers may update them in place. Uses of
an input's or an intermediate's array outside ops that can be seen (``detach()``, an
index array such as `tnn.losses.cross_entropy`'s labels) raise a ValueError when the
step is recorded. Inside `tnn.detect_anomaly` the function runs eagerly; inside
`tnn.no_grad` a training step runs eagerly too and fails at its backward, as
``loss.backward()`` would, while a ``backward=False`` capture replays as usual.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import linecache
import threading
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Protocol, overload

import numpy as np

from tinygrad_nn import autograd
from tinygrad_nn.autograd import Function
from tinygrad_nn.compiled import (
    RELEASE_SIZE,
    Compiled,
    comment_text,
    derivative_text,
    gradient_routes,
    op_label,
    straight_line,
    tuple_text,
)
from tinygrad_nn.tensor import Tensor

__all__ = ["CapturedStep", "RecaptureWarning", "capture_step"]

Needs = tuple[bool, ...]  # which inputs of an op require grad
Signature = tuple[tuple[tuple[int, ...], np.dtype], ...]  # inputs' (shape, dtype)
KEPT_RECORDINGS = 8  # per captured step with recapture=True: one per input signature
FORGOTTEN_LIMIT = 1024  # signatures remembered as dropped, to notice one coming back


class Stepper(Protocol):
    """What ``optimizer=`` needs: the two methods of every `tinygrad_nn.optim` optimizer."""

    def zero_grad(self) -> None: ...

    def step(self) -> None: ...


class RecaptureWarning(UserWarning):
    """A ``recapture=True`` step keeps recording again: more input shapes are in rotation
    than it keeps recordings for (`KEPT_RECORDINGS`)."""


_replay_numbers = itertools.count(1)  # names each compiled replay's source file


@overload
def capture_step(
    fn: Callable[..., Any],
    *,
    optimizer: Stepper | None = None,
    recapture: bool = False,
    backward: bool = True,
    compiled: bool = True,
) -> CapturedStep: ...


@overload
def capture_step(
    fn: None = None,
    *,
    optimizer: Stepper | None = None,
    recapture: bool = False,
    backward: bool = True,
    compiled: bool = True,
) -> Callable[[Callable[..., Any]], CapturedStep]: ...


def capture_step(
    fn: Callable[..., Any] | None = None,
    *,
    optimizer: Stepper | None = None,
    recapture: bool = False,
    backward: bool = True,
    compiled: bool = True,
) -> CapturedStep | Callable[[Callable[..., Any]], CapturedStep]:
    """Record ``fn``'s ops on its first call and replay them on later calls.

    Args:
        fn: takes input arrays (passed to it as Tensors that do not require grad) and
            returns the loss, a single-element Tensor, or a tuple whose first item is the
            loss and whose other items are Tensors to return as well (predictions, ...).
        optimizer: an optimizer (anything with ``zero_grad()`` and ``step()``): each call
            then runs ``optimizer.zero_grad()``, forward, backward and
            ``optimizer.step()``, a whole training step.
        recapture: when an input's shape or dtype differs from the recording (say, a
            smaller last batch), record again instead of raising a ValueError. The last
            `KEPT_RECORDINGS` recordings are kept, one per input signature, so shapes
            that come back (every epoch's last batch) replay without recording again;
            a shape that comes back after its recording was dropped warns once
            (`RecaptureWarning`): more shapes are in rotation than are kept.
        backward: False captures a forward pass only (inference): ``fn`` may return any
            Tensor or tuple of Tensors, no graph is recorded and no gradient computed.
        compiled: compile the step into straight-line NumPy when every op it recorded
            has a kernel (`tinygrad_nn.kernels`); False, or an op without one, replays
            the ops through the engine instead. Both compute bitwise what eager mode
            computes; ``step.source`` shows which one runs.

    Returns:
        A `CapturedStep`; calling it runs forward and backward (``.grad`` of every
        parameter the loss depends on is accumulated, as by ``loss.backward()``; with an
        optimizer, zeroed first and used by its ``step()`` after) and returns the loss
        (or the tuple) as Tensors without a graph. Usable as a decorator, bare or as
        ``@capture_step(optimizer=opt)``.

    Example:
        >>> train_step = capture_step(lambda x, y: mse(model(x), y), optimizer=opt)
        >>> loss = train_step(x_batch, y_batch)     # one whole SGD step
        >>> predict = capture_step(lambda x: model(x), backward=False)
        >>> predict(x_batch)        # a Tensor, no graph
    """
    if fn is None:
        return functools.partial(
            CapturedStep,
            optimizer=optimizer,
            recapture=recapture,
            backward=backward,
            compiled=compiled,
        )
    return CapturedStep(
        fn, optimizer=optimizer, recapture=recapture, backward=backward, compiled=compiled
    )


class CapturedStep:
    """A function of input arrays whose ops are recorded once and replayed (see module doc).

    Attributes:
        fn: the function.
        optimizer: the optimizer each call zeroes before and steps after, or None.
        recapture: record again (or replay a kept recording for the new shapes) instead
            of raising when the inputs' shapes change.
        backward: whether a call also runs backward (False: inference only).
        compiled: whether a recording is compiled to straight-line NumPy where it can be.
        recordings: how many times ``fn`` has been recorded (1 after the first call).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        optimizer: Stepper | None = None,
        recapture: bool = False,
        backward: bool = True,
        compiled: bool = True,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"capture_step: expected a function, got {type(fn).__name__}")
        if optimizer is not None:
            if not backward:
                raise ValueError(
                    "capture_step: an optimizer needs gradients; drop backward=False or the "
                    "optimizer"
                )
            missing = [name for name in ("zero_grad", "step") if not hasattr(optimizer, name)]
            if missing:
                raise TypeError(
                    f"capture_step: optimizer= must have zero_grad() and step() (such as "
                    f"tnn.optim.SGD); {type(optimizer).__name__} lacks {', '.join(missing)}"
                )
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.optimizer = optimizer
        self.recapture = recapture
        self.backward = backward
        self.compiled = compiled
        self.recordings = 0
        self._program: _Program | None = None  # the recording the last call used
        self._kept: dict[Signature, _Program] = {}  # with recapture: by input signature
        self._forgotten: set[Signature] = set()  # signatures whose recording was dropped
        self._warned = False

    def __call__(self, *inputs: Any) -> Any:
        program = self._program
        # The fast path (`_guard`): ndarrays of the recorded shapes and dtypes, parameters
        # unchanged, no step being recorded, anomaly mode off, grad mode on for training.
        if program is not None and len(inputs) == program.arity and program.fits(*inputs):
            compiled = program.compiled_function  # nothing to rename errors after: call it
            outputs = compiled(*inputs) if compiled is not None else program.run(inputs)
            return outputs if program.returns_tuple else outputs[0]
        if autograd.is_recording():
            raise RuntimeError(
                "capture_step: a captured step cannot run while another step is being "
                "recorded; call the inner function directly"
            )
        if autograd.is_anomaly_enabled() or (self.backward and not autograd.is_grad_enabled()):
            return self._run_eagerly(tuple(map(_input_array, inputs)))
        arrays = tuple(map(_input_array, inputs))
        if program is None:
            return self._record(arrays)
        problem = program.mismatch(arrays)
        if problem is not None:
            if self.recapture:
                return self._switch_or_record(arrays)
            raise ValueError(
                f"capture_step: {problem}; the step was recorded for inputs "
                f"{program.signature_text()}. Capture one step per input shape, or pass "
                "recapture=True to record again when shapes change"
            )
        outputs = program.run(arrays)
        return outputs if program.returns_tuple else outputs[0]

    @property
    def source(self) -> str | None:
        """The Python code a call runs (None before the first call).

        Values are named after their slots: ``x`` inputs, ``p`` parameters read afresh
        each call, ``v`` op outputs, ``g`` gradients. A compiled step is one function,
        ``step``: each op's forward lines, its backward lines newest op first, the writes
        of ``.grad`` and the optimizer's update. A replayed one starts with a comment
        saying why it is not compiled, then ``replay`` (the forward, one line per op) and,
        for training, ``step``, which runs it, the engine's backward (listed node by node)
        and the optimizer.
        """
        return None if self._program is None else self._program.source

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        if self._program is None:
            ops = "not recorded yet"
        else:
            how = "replayed" if self._program.why_replayed else "compiled"
            ops = f"{self._program.size} ops, {how}"
        return f"<CapturedStep {name}: {ops}>"

    def _run_eagerly(self, arrays: tuple[np.ndarray, ...]) -> Any:
        if self.optimizer is not None:
            self.optimizer.zero_grad()
        with contextlib.nullcontext() if self.backward else autograd.no_grad():
            result = self.fn(*(Tensor._make(array, False) for array in arrays))
        outputs = _outputs(result)
        if self.backward:
            outputs[0].backward()
        if self.optimizer is not None:
            self.optimizer.step()
        return _detached(result, outputs)

    def _switch_or_record(self, arrays: tuple[np.ndarray, ...]) -> Any:
        """Replay the kept recording for these inputs' shapes and dtypes if it still fits
        (a parameter may have been frozen since), else record anew."""
        program = self._kept.get(tuple((array.shape, array.dtype) for array in arrays))
        if program is None or program.mismatch(arrays) is not None:
            return self._record(arrays)
        self._program = program
        outputs = program.run(arrays)
        return outputs if program.returns_tuple else outputs[0]

    def _record(self, arrays: tuple[np.ndarray, ...]) -> Any:
        self._program = None
        if self.optimizer is not None:
            self.optimizer.zero_grad()
        inputs = tuple(Tensor._make(array, False) for array in arrays)
        steps: list[tuple[type[Function], tuple[Tensor, ...], dict[str, Any], Tensor]] = []
        autograd.set_recorder(lambda *step: steps.append(step))
        try:
            with autograd.enable_grad() if self.backward else autograd.no_grad():
                result = self.fn(*inputs)
        finally:
            autograd.set_recorder(None)
        outputs = _outputs(result)
        program = _Program(steps, inputs, outputs, self.backward, self.optimizer, self.compiled)
        program.returns_tuple = isinstance(result, tuple)
        if self.backward:
            outputs[0].backward()
        if self.optimizer is not None:
            self.optimizer.step()
        self._program = program
        if self.recapture:
            self._keep(program)
        self.recordings += 1
        return _detached(result, outputs)

    def _keep(self, program: _Program) -> None:
        """Keep ``program`` as the newest recording; warn once when a dropped one came back."""
        signature = program.signature
        if signature in self._forgotten and not self._warned:
            self._warned = True
            warnings.warn(
                f"capture_step: {getattr(self.fn, '__qualname__', 'the step')} records again "
                f"for inputs {program.signature_text()}, whose recording it had dropped: more "
                f"than {KEPT_RECORDINGS} input shapes are in rotation, so recapture=True "
                "records and compiles on many calls. Pad or bucket the batches to fewer "
                "shapes, or use one capture_step per shape",
                RecaptureWarning,
                stacklevel=5,  # the caller of the step (through _switch_or_record, _record)
            )
        self._forgotten.discard(signature)
        self._kept.pop(signature, None)  # re-inserted as the newest
        self._kept[signature] = program
        if len(self._kept) > KEPT_RECORDINGS:
            oldest = next(iter(self._kept))
            del self._kept[oldest]
            if len(self._forgotten) >= FORGOTTEN_LIMIT:
                self._forgotten.clear()
            self._forgotten.add(oldest)


# --------------------------------------------------------------------------- the recording


class _Program:
    """A recorded step: forward ops over numbered slots, and the backward plan.

    Slots number the arrays: the inputs first, then every tensor the function used that no op
    of the recording made (parameters and constants, read afresh on each call), then the
    op outputs. Each backward entry says where each input's gradient goes: to a slot
    (an op output that needs a gradient), to a leaf's ``.grad``, or nowhere.
    """

    def __init__(
        self,
        steps: list[tuple[type[Function], tuple[Tensor, ...], dict[str, Any], Tensor]],
        inputs: tuple[Tensor, ...],
        outputs: tuple[Tensor, ...],
        backward: bool,
        optimizer: Stepper | None = None,
        compiled: bool = True,
    ) -> None:
        loss = outputs[0]
        if backward and (loss.data.size != 1 or not loss.requires_grad):
            raise ValueError(
                "capture_step: the function must return a single-element loss that depends "
                f"on tensors requiring grad, got shape {loss.shape} "
                f"(requires_grad={loss.requires_grad})"
            )
        self.size = len(steps)
        self.signature: Signature = tuple((t.data.shape, t.data.dtype) for t in inputs)
        self.arity = len(inputs)
        self.returns_tuple = False  # whether fn returned a tuple (set by the recorder)
        slot_of: dict[int, int] = {id(t): index for index, t in enumerate(inputs)}
        # Arrays that change from call to call: an external tensor or keyword argument
        # holding one of them was made outside the ops and would be frozen by a replay.
        live_arrays = {id(t.data) for t in inputs} | {id(step[3].data) for step in steps}
        self.externals: list[tuple[int, Tensor]] = []
        self.ops: list[tuple[type[Function], Callable[..., Any], tuple[int, ...], Needs, int]] = []
        produced_by: dict[int, int] = {}  # slot -> index of the step that records a node
        for index, (cls, op_inputs, kwargs, output) in enumerate(steps):
            _check_frozen_values(cls, kwargs, live_arrays)
            slots = []
            for tensor in op_inputs:
                slot = slot_of.get(id(tensor))
                if slot is None:
                    _check_external(cls, tensor, live_arrays)
                    slot = slot_of[id(tensor)] = len(slot_of)
                    self.externals.append((slot, tensor))
                slots.append(slot)
            output_slot = slot_of[id(output)] = len(slot_of)
            needs = tuple(t.requires_grad for t in op_inputs)
            forward = functools.partial(cls.forward, **kwargs) if kwargs else cls.forward
            self.ops.append((cls, forward, tuple(slots), needs, output_slot))
            if output._ctx is not None:
                produced_by[output_slot] = index
        self.input_count = len(inputs)
        if any(id(t) not in slot_of for t in outputs) or (
            backward and slot_of[id(loss)] not in produced_by
        ):
            raise ValueError(
                "capture_step: the function must return tensors computed by tinygrad_nn ops "
                "(the loss first)"
            )
        self.output_slots = tuple(slot_of[id(t)] for t in outputs)
        # A parameter frozen or unfrozen after recording changes which gradients exist.
        self.leaf_flags = (
            tuple((tensor, tensor.requires_grad) for _, tensor in self.externals)
            if backward
            else ()
        )
        self.backward_plan = self._plan_backward(steps, slot_of, produced_by) if backward else None
        # A replay's backward releases the graph as it goes where that returns memory worth
        # the records it makes (the compiled step's rule for deleting a value early).
        self.releases = any(step[3].data.size >= RELEASE_SIZE for step in steps)
        self.bindings = _module_bindings(steps, self.externals)
        self._per_thread = threading.local()  # see `_inference_contexts`
        made = (
            straight_line(
                steps,
                self.ops,
                self.externals,
                self.input_count,
                self.output_slots,
                self.backward_plan,
                optimizer,
            )
            if compiled
            else "compiled=False"
        )
        self.compiled_function: Callable[..., tuple[Tensor, ...]] | None = None
        self._step: Callable[..., tuple[Tensor, ...]] | None = None
        if isinstance(made, Compiled):
            self.why_replayed: str | None = None
            self.source, self.compiled_function = made
            self._op_lines: dict[int, tuple[int, tuple[str, ...]]] = {}
            op_code = self.compiled_function.__code__
        else:
            self.why_replayed = made  # why it could not be compiled
            self.source, functions, self._op_lines = _compile(self, optimizer)
            self._replay_forward = functions["replay"]
            self._step = functions.get("step")
            op_code = self._replay_forward.__code__
        self._op_code = op_code
        # Compiled lines are written for the parameters' shapes and dtypes at recording
        # (a replay calls the ops, which handle any): a change must be noticed.
        self.layouts = (
            tuple((tensor, tensor._data.shape, tensor._data.dtype) for _, tensor in self.externals)
            if self.compiled_function is not None
            else ()
        )
        self.fits = _guard(self)
        # Tracebacks through a replay show its source lines; dropped with the program.
        filename = op_code.co_filename
        linecache.cache[filename] = (len(self.source), None, self.source.splitlines(True), filename)
        weakref.finalize(self, linecache.cache.pop, filename, None)

    def _plan_backward(
        self,
        steps: list[tuple[type[Function], tuple[Tensor, ...], dict[str, Any], Tensor]],
        slot_of: dict[int, int],
        produced_by: dict[int, int],
    ) -> list[int]:
        """The steps whose nodes the loss depends on, newest first: eager backward's order
        (decreasing creation order) over the same nodes."""
        reached = {produced_by[self.output_slots[0]]}
        plan = []
        for index in range(len(steps) - 1, -1, -1):
            if index not in reached:
                continue
            plan.append(index)
            for tensor in steps[index][1]:
                producer = produced_by.get(slot_of[id(tensor)])
                if producer is not None:
                    reached.add(producer)
        return plan

    def signature_text(self) -> str:
        return ", ".join(f"{shape} {dtype}" for shape, dtype in self.signature)

    def mismatch(self, arrays: tuple[np.ndarray, ...]) -> str | None:
        """Why ``arrays`` (or the parameters) no longer fit the recording, or None."""
        if len(arrays) != len(self.signature):
            return f"got {len(arrays)} inputs, the recording has {len(self.signature)}"
        for array, (shape, dtype) in zip(arrays, self.signature, strict=False):  # len checked
            if array.shape != shape or (array.dtype is not dtype and array.dtype != dtype):
                index = next(i for i, a in enumerate(arrays) if a is array)
                return f"input {index} has shape {array.shape} and dtype {array.dtype}"
        for tensor, requires_grad in self.leaf_flags:
            if tensor.requires_grad != requires_grad:
                return f"a tensor's requires_grad changed to {tensor.requires_grad}"
        for attributes, name, tensor in self.bindings:
            if attributes.get(name) is not tensor:
                return f"the module attribute {name!r} now holds another tensor than at recording"
        for tensor, shape, dtype in self.layouts:
            data = tensor._data
            if data.shape != shape or data.dtype != dtype:
                return (
                    f"a parameter recorded with shape {shape} and dtype {dtype} now has shape "
                    f"{data.shape} and dtype {data.dtype}"
                )
        return None

    def run(self, arrays: tuple[np.ndarray, ...]) -> tuple[Tensor, ...]:
        """Replay forward (and backward, and the optimizer) on new input arrays; returns
        the outputs."""
        try:
            if self.compiled_function is not None:
                return self.compiled_function(*arrays)
            if self._step is None:  # inference: no node outlives the call
                return self._replay_forward(self._inference_contexts(), *arrays)
            return self._step(*arrays)
        except (ValueError, IndexError, TypeError) as error:
            named = self._naming_the_op(error)
            if named is error:  # not raised by a replayed op: backward's or the optimizer's
                raise
            raise named from error

    def _naming_the_op(self, error: Exception) -> Exception:
        """An op's forward error re-raised as eager mode raises it: naming the op, the
        shapes and dtypes of its inputs, and a fix (see `autograd.forward_error`)."""
        traceback = error.__traceback__
        while traceback is not None and traceback.tb_frame.f_code is not self._op_code:
            traceback = traceback.tb_next
        if traceback is None or traceback.tb_lineno not in self._op_lines:
            return error  # not raised by an op (say, a wrong number of inputs)
        index, argument_names = self._op_lines[traceback.tb_lineno]
        local_values = traceback.tb_frame.f_locals
        arrays = [local_values[name] for name in argument_names]
        return autograd.forward_error(self.ops[index][0], arrays, error)

    def _inference_contexts(self) -> list[Function]:
        """One context per op for forward-only replays, made once per thread.

        A forward needs a context to save into even when no backward follows; reusing
        them saves building a node per op and call. They are real instances of each op
        class (ops may read class attributes through ctx) and private to a thread (ops may
        keep state on ctx during forward). What an op saved stays referenced until the
        thread's next call; nothing reads it.
        """
        contexts = getattr(self._per_thread, "contexts", None)
        if contexts is None:
            contexts = [autograd.make_node(cls, needs) for cls, _, _, needs, _ in self.ops]
            self._per_thread.contexts = contexts
        return contexts


def _compile(
    program: _Program, optimizer: Stepper | None
) -> tuple[str, dict[str, Callable[..., Any]], dict[int, tuple[int, tuple[str, ...]]]]:
    """The recorded step as Python source, its functions compiled by name (``replay``, and
    ``step`` for training), and for each line that calls an op: the op's index and the
    names of its arguments.

    ``replay`` is the forward (see below). ``step`` is the training step around it:
    ``optimizer.zero_grad()`` if there is an optimizer, ``replay``, the engine's backward
    loop (`tinygrad_nn.autograd.backpropagate`) over the graph the replay linked, then
    ``optimizer.step()``. The backward stays the engine's one routine, not generated code
    (a second copy of its gradient routing, checks and release would drift from it); the
    source lists what it does, node by node, from the recorded plan.

    One line per op and no table of slots: looking values up in a list, unpacking each
    op's entry and spreading its arguments cost as much as a small op's arithmetic.
    Every value is a local named after its slot: ``x`` for inputs, ``p`` for parameters
    and other tensors made outside the step (their ``.data`` is read afresh on each
    call), ``v`` for op outputs. A training replay makes a fresh node per op and, for the
    nodes the loss depends on, links it into a graph as `Function.apply` does (``T`` for
    its output Tensor, ``X`` for input Tensors, ``t`` for the parameters themselves); it
    returns those Tensors in backward order for the engine's backward loop. An inference
    replay reuses the contexts it is given and builds no graph. Only identifiers and
    numbers are written into the source; the ops, their keyword arguments and the tensors
    are bound through the function's globals.
    """
    names = {slot: f"x{slot}" for slot in range(program.input_count)}
    namespace: dict[str, Any] = {
        "ndarray": np.ndarray,
        "asarray": np.asarray,
        "make": Tensor._make,
        "node": autograd.make_node,
    }
    inputs = ", ".join(names[slot] for slot in range(program.input_count))
    training = program.backward_plan is not None
    linked = set(program.backward_plan or ())  # ops whose nodes backward visits
    graph_names: dict[int, str] = {}  # slot -> the Tensor a linked node takes as input
    lines = [
        f"# replayed through the engine, not compiled: {comment_text(program.why_replayed or '')}",
        f"def replay(contexts{', ' if inputs else ''}{inputs}):",
    ]
    op_lines: dict[int, tuple[int, tuple[str, ...]]] = {}  # line number -> op
    for slot, tensor in program.externals:
        names[slot] = f"p{slot}"
        graph_names[slot] = f"t{slot}"
        namespace[f"t{slot}"] = tensor
        lines.append(f"    p{slot} = t{slot}.data")
    if program.ops and not training:
        contexts = ", ".join(f"c{i}" for i in range(len(program.ops)))
        lines.append(f"    {contexts}, = contexts")
    for index, (cls, forward, slots, needs, output_slot) in enumerate(program.ops):
        namespace[f"f{index}"] = forward
        if training:
            namespace[f"op{index}"], namespace[f"n{index}"] = cls, needs
            lines.append(f"    c{index} = node(op{index}, n{index})")
        out = names[output_slot] = f"v{output_slot}"
        argument_names = tuple(names[slot] for slot in slots)
        label = cls.op_name()
        comment = f"  # {label}" if isinstance(label, str) and label.isidentifier() else ""
        lines.append(f"    {out} = f{index}(c{index}, {', '.join(argument_names)}){comment}")
        op_lines[len(lines)] = (index, argument_names)
        lines.append(f"    if {out}.__class__ is not ndarray: {out} = asarray({out})")
        if index in linked:
            parents = []
            for slot in slots:
                if slot not in graph_names:  # an input, or an output no node of ours made
                    graph_names[slot] = f"X{slot}"
                    lines.append(f"    X{slot} = make({names[slot]}, False)")
                parents.append(graph_names[slot])
            graph_names[output_slot] = f"T{output_slot}"
            lines.append(
                f"    T{output_slot} = make({out}, True); c{index}.parents = "
                f"{tuple_text(parents)}; T{output_slot}._ctx = c{index}"
            )
    outputs = tuple_text(f"make({names[slot]}, False)" for slot in program.output_slots)
    if training:
        order = ", ".join(f"T{program.ops[i][4]}" for i in program.backward_plan or ())
        lines.append(f"    return {outputs}, [{order}]")
        lines += _step_lines(program, names, inputs, optimizer)
        namespace["backpropagate"] = autograd.backpropagate
        namespace["seed"] = autograd.seed_gradient
        namespace["optimizer"] = optimizer
    else:
        lines.append(f"    return {outputs}")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<capture_step replay {next(_replay_numbers)}>", "exec"), namespace)
    # Popped, not read: the functions and their namespace (their globals, which hold the
    # parameters) would otherwise form a cycle that outlives the program. ``step`` holds
    # ``replay`` as a keyword default for the same reason.
    functions: dict[str, Callable[..., Any]] = {
        name: namespace.pop(name) for name in ("replay", "step") if name in namespace
    }
    return source, functions, op_lines


def _step_lines(
    program: _Program, names: dict[int, str], inputs: str, optimizer: Stepper | None
) -> list[str]:
    """Source of ``step``: zero_grad, the forward replay, backward (listed), the update."""
    lines = ["", "", f"def step({inputs}{', ' if inputs else ''}*, replay=replay):"]
    if optimizer is not None:
        lines.append("    optimizer.zero_grad()")
    lines.append(f"    outputs, order = replay(None{', ' if inputs else ''}{inputs})")
    lines.append("    loss = order[0]")
    lines.append(
        "    # backward: the engine's loop (tinygrad_nn.autograd.backpropagate) visits the nodes"
    )
    lines.append("    # newest first; g<n> is the gradient of the loss with respect to value <n>:")
    plan = program.backward_plan or []
    lines.append(f"    #   g{program.ops[plan[0]][4]} = 1")
    leaf_slots = {slot for slot, _ in program.externals}
    leaves: list[int] = []
    for index, edges in gradient_routes(program.ops, plan):
        cls, output_slot = program.ops[index][0], program.ops[index][4]
        targets = [f"g{slot}" for _, slot, _ in edges]
        added = [f"g{slot}" for _, slot, first in edges if not first]
        leaves += [slot for _, slot, first in edges if first and slot in leaf_slots]
        label = op_label(cls)
        received = ", ".join(targets) if targets else "nothing"
        line = f"    #   {received} = {label}.backward(g{output_slot})"
        if added:
            line += f"  (adds to {', '.join(added)})"
        rule = derivative_text(cls)
        lines.append(f"{line}    {rule}" if rule else line)
    if leaves:
        grads = ", ".join(f"{names[slot]}.grad += g{slot}" for slot in sorted(leaves))
        lines.append(f"    #   then {grads}, written once the whole pass succeeded")
    # Releasing makes a record per intermediate input (13-16% of the article's replayed
    # step, whose arrays are tiny); with large values it returns their memory as the pass
    # goes (an L step's peak drops by a fifth), so only then does the replay release.
    if program.releases:
        lines.append("    # the graph's values go as the pass goes (as in eager mode)")
    else:
        lines.append("    # retain_graph: the nodes go with this call, whose values are small")
    lines.append(
        "    backpropagate(order, {id(loss): seed(loss, None, 'capture_step')}, "
        f"retain_graph={not program.releases}).write()"
    )
    if optimizer is not None:
        lines.append(
            f"    optimizer.step()  # {type(optimizer).__name__}: the update, from every .grad"
        )
    lines.append("    return outputs")
    return lines


def _guard(program: _Program) -> Callable[..., bool]:
    """A fast check that ``program`` may run as it is: one expression, True when no step
    is being recorded, anomaly mode is off and (for training) grad mode on, every input is
    an ndarray of the recorded shape and dtype, every parameter has its requires_grad flag
    (and, for a compiled step, its shape and dtype) and every module attribute the
    recorded tensor. False means "look closer": the caller checks the modes, converts the
    inputs, and `_Program.mismatch` says what differs, if anything (it compares dtypes by
    value, the guard by identity)."""
    names = [f"x{index}" for index in range(len(program.signature))]
    namespace: dict[str, Any] = {"state": autograd.thread_switches(), "ndarray": np.ndarray}
    checks = ["state.recorder is None and not state.anomaly"]
    if program.backward_plan is not None:
        checks.append("state.grad_enabled")
    for index, (shape, dtype) in enumerate(program.signature):
        namespace[f"d{index}"] = dtype
        checks.append(
            f"x{index}.__class__ is ndarray and x{index}.shape == {shape!r} and "
            f"x{index}.dtype is d{index}"
        )
    for index, (tensor, requires_grad) in enumerate(program.leaf_flags):
        namespace[f"t{index}"] = tensor
        checks.append(f"t{index}.requires_grad is {bool(requires_grad)}")
    for index, (attributes, name, tensor) in enumerate(program.bindings):
        namespace[f"a{index}"], namespace[f"b{index}"] = attributes, tensor
        checks.append(f"a{index}.get({name!r}) is b{index}")
    for index, (tensor, shape, dtype) in enumerate(program.layouts):
        namespace[f"p{index}"], namespace[f"e{index}"] = tensor, dtype
        checks.append(f"p{index}._data.shape == {shape!r} and p{index}._data.dtype is e{index}")
    source = f"def fits({', '.join(names)}):\n    return {' and '.join(checks)}\n"
    exec(compile(source, "<capture_step guard>", "exec"), namespace)
    return namespace.pop("fits")


def _input_array(value: Any) -> np.ndarray:
    if value.__class__ is np.ndarray:
        return value
    if isinstance(value, Tensor):
        if value.requires_grad:
            raise ValueError(
                f"capture_step: an input of shape {value.shape} requires grad; a captured "
                "step computes the gradients of the parameters it uses, its inputs are data"
            )
        return value.data
    return np.asarray(value)


def _outputs(result: Any) -> tuple[Tensor, ...]:
    outputs = tuple(result) if isinstance(result, tuple) else (result,)
    if not outputs or not all(isinstance(t, Tensor) for t in outputs):
        raise TypeError(
            "capture_step: the function must return the loss Tensor, or a tuple of Tensors "
            f"whose first item is the loss; got {type(result).__name__}"
        )
    return outputs


def _detached(result: Any, outputs: tuple[Tensor, ...]) -> Any:
    detached = tuple(Tensor._make(t.data, False) for t in outputs)
    return detached if isinstance(result, tuple) else detached[0]


def _check_external(cls: type[Function], tensor: Tensor, live_arrays: set[int]) -> None:
    """Refuse tensors the replay could not refresh: constants made from this call's arrays
    outside the ops (``detach()``, ``x.data`` passed to an op), or a graph from before.
    Parameters are fine: the replay reads their ``.data`` on every call."""
    data = tensor.data
    if not tensor.requires_grad and (
        id(data) in live_arrays or (data.base is not None and id(data.base) in live_arrays)
    ):
        raise ValueError(
            f"capture_step: {cls.op_name()} uses a tensor made from an input's or an "
            "intermediate's array outside tinygrad_nn ops (detach(), .data, numpy()); a "
            "replay would keep the first call's values. Compute it with ops, or run the "
            "function without capture_step"
        )
    if tensor._ctx is not None:
        raise ValueError(
            f"capture_step: {cls.op_name()} uses a tensor computed before the step with a "
            "graph of its own; compute it inside the captured function"
        )


def _check_frozen_values(
    cls: type[Function], kwargs: dict[str, Any], live_arrays: set[int]
) -> None:
    for name, value in kwargs.items():
        parts = value if isinstance(value, tuple) else (value,)
        for part in parts:
            if isinstance(part, np.ndarray) and (
                id(part) in live_arrays or (part.base is not None and id(part.base) in live_arrays)
            ):
                raise ValueError(
                    f"capture_step: {cls.op_name()} takes its {name}= argument from an input's "
                    "or an intermediate's array; a replay would keep the first call's "
                    "values. Run this function without capture_step"
                )


def _module_bindings(
    steps: list[tuple[type[Function], tuple[Tensor, ...], dict[str, Any], Tensor]],
    externals: list[tuple[int, Tensor]],
) -> list[tuple[dict[str, Any], str, Tensor]]:
    """(module attributes, name, tensor) for each parameter the step read from a module
    attribute, so a replay notices ``model.weight = Tensor(...)`` (a replaced parameter)."""
    wanted = {id(tensor): tensor for _, tensor in externals if tensor.requires_grad}
    modules = {id(m): m for _, op_inputs, _, output in steps for m in _scope_of(output)}
    bindings = []
    for module in modules.values():
        attributes = getattr(module, "__dict__", {})
        for name, value in attributes.items():
            if id(value) in wanted and value is wanted[id(value)]:
                bindings.append((attributes, name, value))
    return bindings


def _scope_of(tensor: Tensor) -> tuple[Any, ...]:
    node = tensor.grad_fn
    return node.scope if node is not None else ()
