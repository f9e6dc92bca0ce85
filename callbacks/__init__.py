"""The top-level name of `keras_seg.callbacks`, kept so `from callbacks import LRFinder` works.

This package is an alias, not a copy: `import callbacks` binds the very module
`keras_seg.callbacks`, and `callbacks.<submodule>` the very submodules, so every class exists
once.
"""

import importlib
import pkgutil
import sys

import keras_seg.callbacks as _target

for _info in pkgutil.iter_modules(_target.__path__):
    sys.modules[f"{__name__}.{_info.name}"] = importlib.import_module(
        f"{_target.__name__}.{_info.name}")
sys.modules[__name__] = _target
