"""brisknn's kernels as plain functions on NumPy arrays: inputs are validated and converted,
outputs are freshly allocated. For users, for tests, and for the NumPy comparison in bench/.

float32 and float64 arrays keep their dtype; anything else numeric is computed in float32.
"""
from brisknn.ops.conv import *  # noqa: F401,F403
from brisknn.ops.conv import __all__ as _conv_all
from brisknn.ops.core import *  # noqa: F401,F403
from brisknn.ops.core import __all__ as _core_all
from brisknn.ops.embedding import *  # noqa: F401,F403
from brisknn.ops.embedding import __all__ as _embedding_all
from brisknn.ops.recurrent import *  # noqa: F401,F403
from brisknn.ops.recurrent import __all__ as _recurrent_all

__all__ = list(_core_all) + list(_conv_all) + list(_embedding_all) + list(_recurrent_all)
