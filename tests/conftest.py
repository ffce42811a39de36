"""Project-wide pytest configuration.

Quiet TensorFlow's C++ logging and use a non-interactive matplotlib backend
before any test module imports them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
