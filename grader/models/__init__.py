"""Model and layer comparisons: structure, parameter counts, weight transfer.

Split along what runs where:

- `grader.models.ops`: `Op`, one primitive operation in the notes' terms,
  and `leaf_ops`, the ops of one Keras layer from its configuration;
- `grader.models.trace`: `trace_ops` reduces any valid way of building a
  network to its canonical sequence of primitive `Op`s;
- `grader.models.summary`: `trace_summary`, its probe form run where the
  student's model lives, and `ops_from_summary`, the judge's checked reading;
- `grader.models.structure`: `compare_structure`, `mismatch_hint`,
  `parameter_counts` (a probe);
- `grader.models.weights`: the reference's seeded weights and their transfer
  into the student's matching layers (`assign_weights`, a probe);
- `grader.models.cases`: `ModelCases` and the layer helpers the chapter 7-8
  plugins declare their cases with.
"""

from grader.models.cases import (
    TRANSFER_SEED,
    ModelCases,
    build_layer_pair,
    built_reference,
    copy_reference_weights,
    has_input_shape,
    output_shape,
    seeded_reference,
    student_ops,
)
from grader.models.summary import ops_from_summary, trace_summary
from grader.models.structure import Mismatch, compare_structure, mismatch_hint, parameter_counts
from grader.models.ops import BRANCH_KINDS, WEIGHTED_KINDS, Op, StructureMismatch, ordered_weights
from grader.models.trace import input_shape_of, trace_ops
from grader.models.weights import (
    MODEL_FLOAT32,
    assign_weights,
    compare_outputs,
    randomize_weights,
    seeded_weights,
    transfer_plan,
    transfer_weights,
    weighted_ops,
)

__all__ = [
    "BRANCH_KINDS",
    "MODEL_FLOAT32",
    "Mismatch",
    "ModelCases",
    "Op",
    "StructureMismatch",
    "TRANSFER_SEED",
    "WEIGHTED_KINDS",
    "assign_weights",
    "build_layer_pair",
    "built_reference",
    "compare_outputs",
    "compare_structure",
    "copy_reference_weights",
    "seeded_reference",
    "has_input_shape",
    "input_shape_of",
    "mismatch_hint",
    "ops_from_summary",
    "ordered_weights",
    "output_shape",
    "parameter_counts",
    "randomize_weights",
    "seeded_weights",
    "student_ops",
    "trace_ops",
    "trace_summary",
    "transfer_plan",
    "transfer_weights",
    "weighted_ops",
]
