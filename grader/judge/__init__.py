"""grader.judge: the trusted side of autograde, which decides every grade.

The student's kernel computes; the judge judges. It runs in the autograde
job's own process (outside the sandbox), holds TensorFlow and the kerasdl
references, and never imports or executes student code. After each graded
test cell it runs that exercise's cases itself: it draws the inputs (hidden
ones from a secret per-run seed), asks the kernel for the student's outputs
over a data-only channel, computes the expected values with its own
references, and compares them.

- `grader.judge.channel`: the request/reply channel over the kernel's comm
  (bounded sizes, deadlines, strict decoding);
- `grader.judge.remote`: `RemoteObject` (a handle to a kernel object) and the
  encoding of the judge's inputs;
- `grader.judge.context`: `JudgeContext`, the `CaseContext` whose student
  side is remote;
- `grader.judge.source`: static checks of the notebook's source (reference
  use, test cells);
- `grader.judge.judge`: `Judge.grade`;
- `grader.judge.verdict`: `Verdict`, the decision on one test cell, as data.
"""
