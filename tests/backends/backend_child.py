"""Run under another Keras backend by test_cross_backend.py: ``python backend_child.py DIR``.

Reads ``DIR/x.npy`` and ``DIR/*.keras`` (saved under TensorFlow) and writes, for each model:
its probabilities on ``x`` under this backend (``NAME.probs.npy``), and a SavedModel exported
under this backend (``NAME.saved_model/``). Then builds, trains one step and saves a model
under this backend (``native.keras``, ``native.probs.npy``) for the TensorFlow side to load.
"""

import pathlib
import sys

import keras
import numpy as np

from keras_seg.export import export, final_output
from keras_seg.models import get_model


def probabilities(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(final_output(model(x, training=False)))


def main(folder: pathlib.Path) -> None:
    x = np.load(folder / "x.npy")
    for path in sorted(folder.glob("*.keras")):
        model = keras.models.load_model(path)
        np.save(folder / f"{path.stem}.probs.npy", probabilities(model, x))
        export(str(path), str(folder / f"{path.stem}.saved_model"), sample=x)
    keras.utils.set_random_seed(11)
    model = get_model("unet", input_shape=(None, None, x.shape[-1]), filters=4, depth=2)
    model.compile(optimizer="adam", loss="binary_crossentropy", jit_compile=False)
    model.fit(x, (x[..., :1] > 0).astype("float32"), batch_size=len(x), epochs=1, verbose=0)
    model.save(folder / "native.keras")
    np.save(folder / "native.probs.npy", probabilities(model, x))


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]))
