"""The judge's static reading of a notebook: reference use and code it cannot read."""

from pathlib import Path

import nbformat
import pytest

from grader.course.executor import is_test_cell
from grader.judge.source import check_call, reference_use
from grader.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))

HONEST_CORR2D = (
    "def corr2d(X, K):\n"
    "    h, w = K.shape\n"
    "    Y = tf.Variable(tf.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1)))\n"
    "    for i in range(Y.shape[0]):\n"
    "        for j in range(Y.shape[1]):\n"
    "            Y[i, j].assign(tf.reduce_sum(X[i:i + h, j:j + w] * K))\n"
    "    return Y\n"
)


def _graded(path):
    """``(cells, exercise id, expression)`` of every graded test cell of a notebook."""
    cells = nbformat.read(path, as_version=4).cells
    sources = [cell.source for cell in cells if cell.cell_type == "code"]
    return [(sources, *check_call(cell.source)) for cell in cells if is_test_cell(cell)]


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.parent.name)
def test_instructor_solutions_are_never_refused(path):
    graded = _graded(path)
    assert graded, f"{path.name} has no graded test cell"
    for sources, exercise_id, expression in graded:
        spec = default_registry.get(exercise_id)
        assert reference_use(sources, expression, spec) is None, exercise_id


@pytest.mark.parametrize("cells", [
    ["import tensorflow as tf\nimport kerasdl\n", HONEST_CORR2D, "%matplotlib inline\n"],
    ["import tensorflow as tf\n", "if True:\n" + "\n".join(
        "    " + line for line in HONEST_CORR2D.splitlines())],
    ["import tensorflow as tf\nfrom kerasdl import data\nX = kerasdl_X = tf.ones((6, 8))\n",
     HONEST_CORR2D],
    ["import tensorflow as tf\nimport keras\n",
     "def corr2d(X, K):\n    net = keras.Sequential([keras.layers.Dense(1)])\n"
     "    net.compile(optimizer='sgd', loss='mse')\n    return net(X) * 0 + tf.ones(())\n"],
], ids=["plain", "inside-if", "kerasdl-imported-beside", "keras-compile-method"])
def test_honest_corr2d_is_accepted(cells):
    assert reference_use(cells, "corr2d", default_registry.get("corr2d")) is None


@pytest.mark.parametrize("cells, expected", [
    (["import kerasdl\ncorr2d = kerasdl.corr2d"], "uses kerasdl.corr2d"),
    (["import kerasdl", "f = getattr(kerasdl, 'corr2d')\ndef corr2d(X, K):\n    return f(X, K)"],
     "uses kerasdl.corr2d"),
    (["import kerasdl", "f = getattr(kerasdl, 'cor' + 'r2d')\ndef corr2d(X, K):\n"
      "    return f(X, K)"], "getattr(kerasdl, <computed name>)"),
    (["f = eval('__imp' + 'ort__(\"kerasdl\").corr2d')\ndef corr2d(X, K):\n"
      "    return f(X, K)"], "eval()"),
    (["import importlib\ndef corr2d(X, K):\n"
      "    return importlib.import_module('ker' + 'asdl').corr2d(X, K)"], "import_module()"),
    (["import kerasdl", "%time corr2d = kerasdl.corr2d"], "not defined by code"),
    (["exec('import kerasdl; corr2d = kerasdl.corr2d')"], "not defined by code"),
    (["import grader.registry as r\ndef corr2d(X, K):\n"
      "    return r.default_registry.get('corr2d').reference(X, K)"], "r.default_registry"),
    (["import kerasdl\nm = [kerasdl][0]\ndef corr2d(X, K):\n    return m.corr2d(X, K)"],
     "the module kerasdl used as a value"),
    (["import kerasdl\ntry:\n    corr2d = kerasdl.corr2d\nexcept Exception:\n    pass"],
     "uses kerasdl.corr2d"),
    (["import sys\ndef corr2d(X, K):\n    return sys.modules['kerasdl'].corr2d(X, K)"],
     ".modules"),
], ids=["alias", "getattr-literal", "getattr-computed", "eval", "import-module", "magic",
        "exec", "grader-registry", "module-as-value", "inside-try", "sys-modules"])
def test_reference_reached_any_way_is_refused(cells, expected):
    message = reference_use(cells, "corr2d", default_registry.get("corr2d"))
    assert message is not None and expected in message
