"""grader.kernel: the code that runs inside the student's kernel under autograde.

Everything here is on the student's side of the trust boundary: the student's
code shares its interpreter and can replace any of it. It serves the judge
(`grader.judge`), which decides every grade in a separate process from the
data this code sends back (`grader.wire`), and which never trusts it.

- `grader.kernel.host`: answers the judge's requests over a Jupyter comm
  (look up the student's object, call it on the judge's inputs, run a probe).
"""

# Set in a kernel whose test cells the judge grades: its own check leaves the
# hidden cases to the judge, which draws them from a seed this kernel never sees.
JUDGED_ENV = "KERASDL_JUDGED"
