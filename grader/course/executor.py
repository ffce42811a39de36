"""Execute one notebook in a (sandboxed) kernel and judge its test cells.

`JudgedExecute` is nbclient's `NotebookClient` with three duties added:

* *judging*: right after a graded test cell (``grader.check("id", name)``,
  restored from the source notebook, so the student cannot change it) has
  run, the judge (`grader.judge.Judge`, in this trusted process) grades the
  exercise through the kernel's data-only channel; a later cell cannot swap
  the object;
* *resilience*: a kernel that dies (segfault, out of memory, ``os._exit``) or
  does not answer an interrupt after a cell timeout costs only that cell: it
  gets an error output, a fresh kernel runs the notebook again from the top
  without it (at most ``1 + number of code cells`` passes);
* *output limits*: every output is cut to `OutputLimits.output_chars`
  characters and the notebook to `OutputLimits.notebook_chars`, while the
  messages arrive, before anything is saved.

The kernel comes from a factory (a sandboxed kernel manager under autograde,
`grader.course.sandbox`), so this module knows nothing of isolation.
"""

import asyncio
import copy
import dataclasses

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

from grader.judge.channel import KernelChannel, blocking_client, max_message_context
from grader.judge.remote import id_counter
from grader.judge.source import check_call, reference_use

__all__ = [
    "CELL_TIMEOUT",
    "DEAD_KERNEL",
    "LOST_KERNEL_ERRORS",
    "NOTEBOOK_TIMEOUT",
    "NOT_EXECUTED",
    "STUCK_KERNEL",
    "JudgedExecute",
    "OutputLimits",
    "error_output",
    "is_test_cell",
]

# Error names written into cells whose kernel was lost; autograde reports them.
DEAD_KERNEL = "DeadKernelError"
STUCK_KERNEL = "KernelNotRespondingError"
CELL_TIMEOUT = "CellTimeoutError"
NOTEBOOK_TIMEOUT = "NotebookTimeoutError"
NOT_EXECUTED = "NotExecutedError"
LOST_KERNEL_ERRORS = (DEAD_KERNEL, STUCK_KERNEL, NOTEBOOK_TIMEOUT, NOT_EXECUTED)
# The note that replaces what an output limit cut.
_CUT = "\n[... output cut: over the grader's limit of {limit:,} characters ...]\n"


@dataclasses.dataclass(frozen=True)
class OutputLimits:
    """Caps on what a notebook's outputs may hold (characters of text or base64).

    Attributes:
        output_chars: one output (a stream, one MIME entry of a display).
        notebook_chars: all outputs of the notebook together.
        max_outputs: outputs one cell may have (later ones are dropped).
    """

    output_chars: int = 200_000
    notebook_chars: int = 1_500_000
    max_outputs: int = 1_000

    def __post_init__(self):
        for name in ("output_chars", "notebook_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1_000:
                raise ValueError(f"`{name}` must be an int >= 1000. Received: {name}={value!r}")


def error_output(ename, evalue):
    """An nbformat error output whose traceback is just `ename: evalue`."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def is_test_cell(cell):
    """Whether a cell is an autograded test cell (graded code, not a solution)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class _KernelLost(Exception):
    """The kernel died or stopped answering while running cell `index`."""

    def __init__(self, index, output):
        super().__init__(index)
        self.index = index
        self.output = output


def _text_size(output):
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(value) if isinstance(value, str) else len(str(value))
               for value in output.get("data", {}).values())


def _cut(output, limit):
    """Cut one output to `limit` characters in place; return its new size."""
    kind = output.get("output_type")
    if kind == "stream":
        if len(output.text) > limit:
            output.text = output.text[:limit] + _CUT.format(limit=limit)
    elif kind == "error":
        kept, total = [], 0
        for line in output.get("traceback", []):
            if total + len(line) > limit:
                kept.append(_CUT.format(limit=limit))
                break
            kept.append(line)
            total += len(line)
        output.traceback = kept
        output.evalue = str(output.get("evalue", ""))[:limit]
    elif "data" in output:
        for mime, value in list(output.data.items()):
            text = value if isinstance(value, str) else str(value)
            if len(text) > limit:
                if mime == "text/plain":
                    output.data[mime] = text[:limit] + _CUT.format(limit=limit)
                else:  # a cut image or HTML is broken: drop it, keep a note
                    del output.data[mime]
                    output.data.setdefault("text/plain", _CUT.format(limit=limit).strip())
    return _text_size(output)


class JudgedExecute(NotebookClient):
    """nbclient's executor that judges test cells, survives lost kernels, caps outputs.

    Args:
        nb: the sanitized notebook to execute (modified in place).
        km_factory: zero-argument callable returning a new, unstarted
            `jupyter_client` kernel manager (async or not).
        judge: a `grader.judge.Judge`, or None to execute without judging.
        load_judge: instead of `judge`, a zero-argument callable returning
            it (or None), called while the kernel runs the notebook's first
            code cell, so that the judge's start-up (TensorFlow's import, some
            seconds) overlaps the kernel's. That cell's timeout counts from
            the end of the call; an exception of the call is raised by
            `execute` once the cell has run.
        limits: `OutputLimits`.
        **kwargs: `NotebookClient` options (`timeout`, `startup_timeout`, ...).

    Attributes:
        verdicts: cell index -> `Verdict` of the final pass.
        lost: cell index -> the error output standing in for a lost cell.
    """

    def __init__(self, nb, *, km_factory, judge=None, load_judge=None, limits=OutputLimits(),
                 **kwargs):
        kwargs.setdefault("allow_errors", True)
        kwargs.setdefault("interrupt_on_timeout", True)
        kwargs.setdefault("kernel_name", "python3")
        # Once the last cell has run, nothing of the kernel is needed: a graceful
        # shutdown would wait for its interpreter to tear TensorFlow down (about
        # 1.3 s on a 2-core machine); the sandbox is killed and removed either way.
        kwargs.setdefault("shutdown_kernel", "immediate")
        super().__init__(nb, **kwargs)
        self._km_factory = km_factory
        if judge is not None and load_judge is not None:
            raise ValueError("Pass `judge` or `load_judge`, not both.")
        self._judge = judge
        self._load_judge = load_judge
        self.limits = limits
        self.verdicts = {}
        self.lost = {}
        self._channel = None
        self._ids = None
        self._used_chars = 0
        self._cell_index = None
        self._lost_verdicts = {}
        # Set (from another thread) to stop after the kernel is killed.
        self.stop_requested = False
        # Cells interrupted at the cell timeout (final pass).
        self.timed_out = set()

    # Kernels ----------------------------------------------------------------------

    def create_kernel_manager(self):
        self.km = self._km_factory()
        return self.km

    async def async_start_new_kernel_client(self):
        """nbclient's kernel client, on sockets that drop oversized messages."""
        client = self.km.client
        asynchronous = getattr(self.km.client_class, "__name__", "").startswith("Async") or \
            "Async" in type(self.km).__name__
        self.km.client = lambda **kw: client(
            context=max_message_context(asyncio=asynchronous), **kw)
        try:
            return await super().async_start_new_kernel_client()
        finally:
            del self.km.client

    def _open_channel(self):
        """The judge's channel into the current kernel (one per kernel)."""
        if self._channel is None:
            client = blocking_client(self.km)
            self._channel = KernelChannel(client, interrupt=self._interrupt,
                                          is_alive=self._is_alive)
            self._channel.open()
            self._ids = id_counter()
        return self._channel

    def _interrupt(self):
        """Interrupt the kernel by an ``interrupt_request`` on its control channel.

        The judge runs inside nbclient's event loop, so the kernel manager's
        own (possibly asynchronous) ``interrupt_kernel`` cannot be awaited here;
        ipykernel answers the control message by interrupting itself.
        """
        channel = self._channel
        if channel is None:
            return
        client = channel.client
        try:
            client.session.send(client.control_channel.socket,
                                client.session.msg("interrupt_request", {}))
        except Exception:  # noqa: BLE001 (a dead kernel: the caller sees it next)
            pass

    def _is_alive(self):
        """Whether the kernel's process still runs (no event loop needed)."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    def _close_channel(self):
        if self._channel is not None:
            self._channel.close()
        self._channel = None

    # Execution --------------------------------------------------------------------

    def execute(self, **kwargs):
        """Execute the notebook, restarting after lost kernels; returns it."""
        num_code_cells = sum(cell.cell_type == "code" for cell in self.nb.cells)
        for _ in range(num_code_cells + 1):
            try:
                self._one_pass(**kwargs)
                return self.nb
            except _KernelLost as error:
                self.lost[error.index] = error.output
                if self.stop_requested:
                    self._mark_not_run()
                    return self.nb
                self.log.warning("Kernel lost in cell %d; restarting", error.index)
        raise RuntimeError("every code cell lost its kernel")  # unreachable

    def _mark_not_run(self):
        """After the deadline: every code cell that did not run gets a timeout error."""
        for index, cell in enumerate(self.nb.cells):
            if (cell.cell_type == "code" and index not in self.lost
                    and cell.get("execution_count") is None):
                self.lost[index] = error_output(
                    NOTEBOOK_TIMEOUT, "the notebook ran out of time before this cell")
                cell.outputs = [self.lost[index]]

    def _one_pass(self, **kwargs):
        for cell in self.nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        self.verdicts = {index: verdict for index, verdict in self._lost_verdicts.items()
                         if index in self.lost}
        self.timed_out = set()
        self._used_chars = 0
        self._cell_index = None
        self.reset_execution_trackers()
        self.km = None
        self.kc = None
        try:
            with self.setup_kernel(**kwargs):
                info = self.wait_for_reply(self.kc.kernel_info())
                if info is not None and "language_info" in info["content"]:
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                for index, cell in enumerate(self.nb.cells):
                    if cell.cell_type != "code":
                        continue
                    if index in self.lost:
                        cell.outputs = [copy.deepcopy(self.lost[index])]
                        continue
                    self._run_cell(cell, index)
        finally:
            self._close_channel()

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        """nbclient's, with the judge loaded (`load_judge`) while the first code cell runs."""
        load = self._load_judge
        if load is None or cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count,
                                                    store_history)
        self._load_judge = None
        running = asyncio.ensure_future(super().async_execute_cell(
            cell, cell_index, execution_count, store_history))
        await asyncio.sleep(0)  # the task sends the cell's execute_request, then waits
        try:
            # Run here, blocking this loop: the kernel computes meanwhile and its
            # replies wait in their sockets. Never in another thread: CPython
            # 3.11's compiler is not safe to run in two threads at once.
            self._judge = load()
        except BaseException:
            await running  # the cell finishes before the error ends the execution
            raise
        return await running

    execute_cell = run_sync(async_execute_cell)

    async def _async_handle_timeout(self, timeout, cell=None):
        """Interrupt a cell at its timeout; a kernel deaf to the interrupt is stuck."""
        index = next((i for i, c in enumerate(self.nb.cells) if c is cell), None)
        if index in self.timed_out:
            raise CellTimeoutError.error_from_timeout_and_cell(
                "the kernel did not answer an interrupt", timeout, cell)
        self.timed_out.add(index)
        return await super()._async_handle_timeout(timeout, cell)

    def _run_cell(self, cell, index):
        if self.stop_requested:  # the notebook's deadline passed: nothing more runs
            raise _KernelLost(index, error_output(
                NOTEBOOK_TIMEOUT, "the notebook ran out of time before this cell"))
        try:
            self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            raise _KernelLost(index, error_output(
                DEAD_KERNEL, "the kernel died while running this cell")) from None
        except CellTimeoutError:
            raise _KernelLost(index, error_output(
                STUCK_KERNEL, "the kernel did not answer an interrupt after the cell "
                              "timed out")) from None
        if index in self.timed_out:
            cell.outputs.append(error_output(
                CELL_TIMEOUT, f"this cell ran longer than {self.timeout} s and was interrupted"))
        if self._judge is not None and is_test_cell(cell) and not self.stop_requested:
            self._judge_cell(cell, index)

    def _judge_cell(self, cell, index):
        from grader.judge.verdict import Verdict

        call = check_call(cell.source)
        if call is None:
            self.verdicts[index] = Verdict("?", 0.0, _points(cell), message=(
                "the grader could not read this test cell (expected grader.check(id, name))"))
            return
        exercise_id, expression = call
        try:
            spec = self._judge.registry.get(exercise_id)
        except Exception as error:  # noqa: BLE001 (an unknown id in the course)
            self.verdicts[index] = Verdict(exercise_id, 0.0, _points(cell), message=str(error))
            return
        sources = [c.source for c in self.nb.cells if c.cell_type == "code"]
        violation = reference_use(sources, expression, spec)
        try:
            channel = self._open_channel()
        except Exception as error:  # noqa: BLE001 (the kernel refused the host)
            self.verdicts[index] = Verdict(exercise_id, 0.0, spec.points, message=(
                f"the grader could not reach your kernel: {error}"))
            raise _KernelLost(index, error_output(STUCK_KERNEL, str(error))) from None
        verdict = self._judge.grade(exercise_id, expression, channel,
                                    static_violation=violation, ids=self._ids)
        self.verdicts[index] = verdict
        if verdict.kernel_lost:
            self._lost_verdicts[index] = verdict  # kept: this cell is skipped from now on
            raise _KernelLost(index, error_output(STUCK_KERNEL, verdict.kernel_lost))

    # Output limits ----------------------------------------------------------------

    def process_message(self, msg, cell, cell_index):
        output = super().process_message(msg, cell, cell_index)
        outputs = cell.get("outputs", [])
        if cell_index != self._cell_index:  # a new cell: count what the last one kept
            self._used_chars = sum(_text_size(o) for c in self.nb.cells
                                   for o in c.get("outputs", []) if c is not cell)
            self._cell_index = cell_index
        if outputs:
            if len(outputs) > self.limits.max_outputs:
                del outputs[self.limits.max_outputs:]
            used = self._used_chars + sum(_text_size(o) for o in outputs[:-1])
            limit = min(self.limits.output_chars, self.limits.notebook_chars - used)
            if limit <= 0:
                outputs.pop()  # the notebook is full: drop further outputs
            elif _text_size(outputs[-1]) > limit:
                _cut(outputs[-1], limit)
        return output


def _points(cell):
    return float(cell.metadata.get("nbgrader", {}).get("points", 0))
