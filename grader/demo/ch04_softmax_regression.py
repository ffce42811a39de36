"""Sample submissions to ``ch04_softmax_regression`` (see `grader.demo.students`).

Graded cells and points: test_softmax 2, test_cross_entropy 1, test_log_softmax 2,
test_softmax_cross_entropy 2, test_accuracy 1, test_evaluate_accuracy 2,
test_train_step 3. A check's score is ``points * passed weight / total weight``
(each case weighs 1 here), hidden cases included under autograde.
"""

from grader.demo.students import Submission, class_submissions

__all__ = ["SUBMISSIONS"]

_BEN = {
    "softmax": '''\
def softmax(X):
    X = np.asarray(X, dtype=np.float64)
    out = np.empty_like(X)
    for i, row in enumerate(X):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out''',
    "cross_entropy": '''\
def cross_entropy(y_hat, y):
    y_hat = np.asarray(y_hat, dtype=np.float64)
    return np.array([-np.log(y_hat[i, int(label)]) for i, label in enumerate(np.asarray(y))])''',
    "log_softmax": '''\
def log_softmax(O):
    O = np.asarray(O, dtype=np.float64)
    m = O.max(axis=1, keepdims=True)
    return O - m - np.log(np.exp(O - m).sum(axis=1, keepdims=True))''',
    "softmax_cross_entropy": '''\
def softmax_cross_entropy(O, y):
    log_probs = log_softmax(O)
    return np.array([-log_probs[i, int(label)] for i, label in enumerate(np.asarray(y))])''',
    "accuracy": '''\
def accuracy(y_hat, y):
    y_hat = np.asarray(y_hat)
    if y_hat.ndim > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    return float(sum(int(p) == int(t) for p, t in zip(y_hat, np.asarray(y))))''',
    "evaluate_accuracy": '''\
def evaluate_accuracy(net, data_iter):
    correct, total = 0.0, 0
    for X, y in data_iter:
        correct += accuracy(net(X, training=False), y)
        total += len(y)
    return correct / total''',
    "train_step": '''\
def train_step(net, loss_fn, optimizer, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, net(X, training=True)) + sum(net.losses)
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return loss''',
}

_CHLOE = {
    # No max subtraction: overflows near +1000 and 0/0 near -1000.
    "softmax": '''\
def softmax(X):
    X_exp = tf.exp(X)
    return X_exp / tf.reduce_sum(X_exp, axis=1, keepdims=True)''',
    # log of her naive softmax: -inf / nan for logits far apart.
    "log_softmax": '''\
def log_softmax(O):
    return tf.math.log(softmax(O))''',
    # Cross-entropy of the naive softmax instead of the stable log-softmax.
    "softmax_cross_entropy": '''\
def softmax_cross_entropy(O, y):
    return cross_entropy(softmax(O), y)''',
    # The fraction instead of the number of correct predictions.
    "accuracy": '''\
def accuracy(y_hat, y):
    y_hat = tf.argmax(y_hat, axis=1)
    return float(tf.reduce_mean(tf.cast(tf.cast(y_hat, y.dtype) == y, tf.float32)))''',
    # The mean of batch accuracies (the last, smaller batch is overweighted).
    "evaluate_accuracy": '''\
def evaluate_accuracy(net, data_iter):
    accs = []
    for X, y in data_iter:
        y_hat = tf.argmax(net(X, training=False), axis=1)
        accs.append(float(tf.reduce_mean(tf.cast(tf.cast(y_hat, y.dtype) == y, tf.float32))))
    return sum(accs) / len(accs)''',
    # d2l's bug: no training=True and net.losses not added.
    "train_step": '''\
def train_step(net, loss_fn, optimizer, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, net(X))
    grads = tape.gradient(loss, net.trainable_variables)
    optimizer.apply_gradients(zip(grads, net.trainable_variables))
    return loss''',
}

SUBMISSIONS = class_submissions(
    ben=Submission(answers=_BEN),
    chloe=Submission(
        answers=_CHLOE,
        expected={
            # Passes random (4, 10), float64 and one column; fails the three large-logit cases.
            "test_softmax": 2 * 3 / 6,
            # Passes random (4, 6) and float64; fails the two large-logit cases.
            "test_log_softmax": 2 * 2 / 4,
            # Passes random (5, 4) and float64; fails the two large-logit cases.
            "test_softmax_cross_entropy": 2 * 2 / 4,
            # The fraction is never the count (more than one example per case).
            "test_accuracy": 0.0,
            # Both cases have a smaller last batch with a different accuracy.
            "test_evaluate_accuracy": 0.0,
            # The plain MLP passes; the MLP with dropout and L2 fails, public
            # and hidden.
            "test_train_step": 3 * 1 / 3,
        },
    ),
    eve=Submission(
        answers={
            # A typo: NameError on every call.
            "softmax": '''\
def softmax(X):
    X_exp = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
    return X_exp / partition''',
            # The cell itself raises (a package that is not installed), so
            # `train_step` is never defined.
            "train_step": '''\
import tensorflow_addons as tfa

def train_step(net, loss_fn, optimizer, X, y):
    return tfa.train(net, X, y)''',
        },
        expected={"test_softmax": 0.0, "test_train_step": 0.0},
    ),
    finn=Submission(
        answers={
            # Never terminates: the grader's per-case budget stops it in the test
            # cell; the one example cell calling it hits the notebook cell timeout.
            "softmax_cross_entropy": '''\
def softmax_cross_entropy(O, y):
    total = 0.0
    while True:
        total += 1.0''',
        },
        expected={"test_softmax_cross_entropy": 0.0},
    ),
    gia=Submission(
        answers={
            # Calls the reference.
            "softmax": '''\
def softmax(X):
    return kerasdl.softmax(X)''',
            # An object equal to everything.
            "cross_entropy": '''\
class _Anything(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

def cross_entropy(y_hat, y):
    return _Anything(0.0)''',
            # Patches NumPy's comparison so that every check would pass.
            "train_step": '''\
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None

def train_step(net, loss_fn, optimizer, X, y):
    return 0.0''',
        },
        expected={"test_softmax": 0.0, "test_cross_entropy": 0.0, "test_train_step": 0.0},
    ),
    hal=Submission(
        base="stub",
        answers={
            # The kernel's own check now prints full points for every exercise;
            # the judge, outside the kernel, grades the untouched stubs: 0.
            "softmax": '''\
grader.check = lambda exercise_id, obj, **kwargs: grader.points(exercise_id)

def softmax(X):
    raise NotImplementedError''',
        },
    ),
)
