"""The top-level name of `keras_seg.losses`, kept so `from losses import focal_loss` works.

This package is an alias, not a copy: `import losses` binds the very module `keras_seg.losses`,
and `losses.<submodule>` (e.g. `from losses.registry import LOSSES`) the very submodules, so every
class exists once and registers once with Keras.
"""

import importlib
import pkgutil
import sys

import keras_seg.losses as _target

for _info in pkgutil.iter_modules(_target.__path__):
    sys.modules[f"{__name__}.{_info.name}"] = importlib.import_module(
        f"{_target.__name__}.{_info.name}")
sys.modules[__name__] = _target
