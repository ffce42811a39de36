"""Keras nets and optimizers reused across checks (a helper of the check plugins).

Building a Keras model or optimizer costs more than a small check's step:
`NetPool` keeps built nets and restores their initial weights on each use,
and `pooled_optimizer` one optimizer per net; either is rebuilt when a
submission changed it in a way a restore cannot undo.
"""

import weakref

__all__ = ["NetPool", "pooled_optimizer"]


class NetPool:
    """Built nets reused across checks; `get` restores a net's initial state.

    Building a Keras model costs tens of milliseconds; restoring its weights
    (and its dropout seed state) costs microseconds. A net a submission
    changed in any other way is rebuilt: its layers, trainable flags, layer
    configs (an activation, a dropout rate, a regularizer) or the attributes
    set on the net and its layers (a patched `call`) differ from when it was
    built.
    """

    def __init__(self, build):
        self._build = build
        self._nets = {}

    def get(self, *key):
        entry = self._nets.get(key)
        if entry is None or not self._intact(entry):
            net = self._build(*key[:-1])
            entry = (net, [v.numpy() for v in net.variables], _signature(net))
            self._nets[key] = entry
        net, values, _ = entry
        for variable, value in zip(net.variables, values):
            variable.assign(value)
        return net

    @staticmethod
    def _intact(entry):
        net, values, signature = entry
        try:
            return len(net.variables) == len(values) and _signature(net) == signature
        except Exception:  # a submission broke the net beyond describing it
            return False


def _fingerprint(obj):
    """What a submission could change on a Keras object besides its variables' values:
    its type, trainable flag, config and the names of its attributes."""
    return (type(obj), getattr(obj, "trainable", None), obj.get_config(),
            tuple(sorted(vars(obj))))


def _signature(net):
    """`_fingerprint` of a pooled net and of each of its layers (by identity)."""
    return [_fingerprint(net)] + [(id(layer), _fingerprint(layer)) for layer in net.layers]


_OPTIMIZERS = weakref.WeakKeyDictionary()


def pooled_optimizer(net, make):
    """The optimizer `make()` builds for a pooled net, built once per net.

    Creating and building a Keras optimizer costs more than the step itself;
    plain SGD keeps no state besides its iteration count, so one optimizer
    per net is reused with its iteration count set back to 0. An optimizer a
    step reconfigured (learning rate, schedule, momentum, patched methods:
    its config or its attributes differ from when it was built) is replaced
    by a new one.

    Args:
        net: a net of a `NetPool`.
        make: zero-argument callable returning a new stateless optimizer
            (plain SGD).
    """
    entry = _OPTIMIZERS.get(net)
    if entry is not None:
        optimizer, fingerprint = entry
        try:
            if _fingerprint(optimizer) == fingerprint:
                optimizer.iterations.assign(0)
                return optimizer
        except Exception:  # a step left the optimizer in a state get_config rejects
            pass
    optimizer = make()
    optimizer.build(net.trainable_variables)
    _OPTIMIZERS[net] = (optimizer, _fingerprint(optimizer))
    return optimizer
