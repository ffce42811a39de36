"""The judge: grade one exercise of a running notebook, outside its kernel.

`Judge.grade(exercise_id, expression, channel, ...)` runs right after the
exercise's test cell: it looks the student's object up in the kernel by the
expression the (locked) test cell passes to `grader.check`, runs the
exercise's public cases with their fixed seeds (the ones the student's
self-check ran) and its hidden cases with inputs and seeds derived from the
run's secret by a keyed hash (`hidden_seed`, `hidden_call_seed`: the kernel
sees a case's call seed with its inputs, and nothing it sees leads back to the
secret or to another case), and
returns a `Verdict`. Expected values come from the judge's own references;
the kernel only ever supplies the student's outputs.

A case whose request fails (a malformed, oversized or late answer) fails;
when the kernel stops answering, every later case fails and the verdict says
why (`Verdict.kernel_lost`), and the job restarts the kernel.
"""

import time

from grader.errors import CaseFailed
from grader.judge.channel import ChannelError, KernelUnresponsive
from grader.judge.context import Findings, JudgeContext
from grader.judge.remote import id_counter
from grader.registry import default_registry
from grader.judge.verdict import Verdict
from grader.results import CaseResult, Score
from grader.runner import HIDDEN_FAILURE, build_cases, case_timeout, run_case, memo_for
from grader.sandbox import tf32_disabled

__all__ = ["Judge", "Verdict", "hidden_call_seed", "hidden_seed"]

# Seeds derived from the run's secret are taken modulo this (a valid NumPy,
# TensorFlow and Python seed).
_SEED_MODULUS = 2**31 - 1


def _keyed_seed(secret, *parts):
    """A seed from HMAC-SHA256 keyed by `secret` over `parts` (one-way)."""
    import hashlib
    import hmac

    message = "\x1f".join(str(part) for part in parts).encode()
    digest = hmac.new(str(int(secret)).encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % _SEED_MODULUS


def hidden_seed(secret, exercise_id):
    """The builder seed of an exercise's hidden cases under the run's `secret`.

    A keyed hash: the seeds the kernel sees (`hidden_call_seed`) reveal
    neither the secret nor the hidden inputs of any other exercise.
    """
    return _keyed_seed(secret, exercise_id, "inputs")


def hidden_call_seed(secret, exercise_id, index):
    """The seed of hidden case `index`'s calls (sent to the kernel with the inputs)."""
    return _keyed_seed(secret, exercise_id, "case", index)


class Judge:
    """Grades exercises in live kernels; one per worker, reused across submissions.

    Args:
        secret: the run's secret seed (an int) for the hidden cases; None
            builds them with the exercise's own seed, as the self-check does
            (for comparing the two, never under autograde).
        registry: the exercise registry (the built-in one by default).
    """

    def __init__(self, secret, registry=None):
        self.secret = None if secret is None else int(secret)
        self.registry = registry or default_registry

    def grade(self, exercise_id, expression, channel, *, static_violation=None, ids=None):
        """Judge one exercise; returns a `Verdict` (never raises for student faults).

        Args:
            exercise_id: the id the test cell passes to `grader.check`.
            expression: the name (or dotted name) of the student's object.
            channel: an open `KernelChannel` to the student's kernel.
            static_violation: a message when the notebook's source uses the
                reference (`grader.judge.source`), else None.
            ids: the kernel's input-id counter (one per kernel).
        """
        start = time.perf_counter()
        spec = self.registry.get(exercise_id)
        verdict = Verdict(exercise_id, 0.0, spec.points)
        try:
            if static_violation:
                verdict.message = f"{static_violation}: submit your own implementation"
                return verdict
            findings = Findings()
            try:
                obj = _lookup(channel, expression, findings)
            except CaseFailed as failed:
                verdict.message = failed.message
                return verdict
            self._run(spec, obj, channel, verdict, ids or id_counter(), findings)
            return verdict
        except KernelUnresponsive as error:
            verdict.kernel_lost = str(error)
            verdict.message = verdict.message or f"the kernel stopped answering: {error}"
            return verdict
        finally:
            verdict.seconds = time.perf_counter() - start

    def _run(self, spec, obj, channel, verdict, ids, findings):
        budget = case_timeout(spec)
        kind_word = "function" if spec.kind == "function" else "code"
        public = [(case, spec.seed + index)
                  for index, case in enumerate(build_cases(spec)) if not case.hidden]
        if self.secret is None:  # as the self-check does
            hidden = [(case, spec.seed + index)
                      for index, case in enumerate(build_cases(spec)) if case.hidden]
        else:
            inputs_seed = hidden_seed(self.secret, spec.id)
            hidden = [(case, hidden_call_seed(self.secret, spec.id, index))
                      for index, case in enumerate(build_cases(spec, seed=inputs_seed))
                      if case.hidden]
        results = []
        timed_out = False
        with tf32_disabled():
            for case, seed in public + hidden:
                if timed_out or findings.lost:
                    reason = findings.lost or "skipped after a timeout"
                    results.append(CaseResult(case.name, False, reason, hidden=case.hidden,
                                              weight=case.weight))
                    continue
                ctx = JudgeContext(
                    channel=channel, findings=findings, reuses=spec.reuses, ids=ids,
                    budget=budget, student_object=obj, reference=spec.reference, seed=seed,
                    hidden=case.hidden, kind_word=kind_word, memo=memo_for(spec, case, seed),
                    reset_kernels=spec.random_draws)
                result, timed_out = run_case(case, ctx, budget, kind_word, use_alarm=False)
                results.append(result)
                if findings.violation:
                    break
        verdict.results = results
        if findings.lost:
            verdict.kernel_lost = findings.lost
        if findings.violation:
            verdict.message = (f"{findings.violation}; this exercise asks for your own "
                               "implementation")
            return
        verdict.score = _score(spec.points, results)
        public_results = [r for r in results if not r.hidden]
        verdict.public_score = _score(spec.points, public_results) if public_results else None


def _score(points, results):
    total = sum(r.weight for r in results)
    earned = sum(r.weight for r in results if r.passed)
    return float(Score(points * earned / total if total else 0.0, exercise="", points=points))


def _lookup(channel, expression, findings):
    """The student's object named `expression`, from the kernel (data or a handle)."""
    from grader import wire
    from grader.judge.remote import RemoteObject

    try:
        reply, buffers = channel.request({"op": "lookup", "name": expression}, timeout=30.0)
    except KernelUnresponsive:
        raise
    except ChannelError:
        raise CaseFailed(f"your notebook does not define `{expression}` (run the cell "
                         "that defines it)") from None
    try:
        return wire.decode(reply.get("value"), buffers,
                           handle=lambda entry: RemoteObject(entry, findings))
    except wire.WireError as error:
        raise CaseFailed(f"`{expression}` could not be read: {error}") from None


__all__ += ["HIDDEN_FAILURE"]
