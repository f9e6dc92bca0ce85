"""Data sets: readers for each layout, the shared tf.data pipeline, volume-wise splits."""

from keras_seg.data.sliceset import SliceSet
from keras_seg.data.split import choose_val_volumes, split_by_volume

DATA_NAMES = ("synthetic", "lgg", "isbi", "drive", "folder")

__all__ = ["DATA_NAMES", "SliceSet", "choose_val_volumes", "load", "split_by_volume"]


def load(name: str, data_dir: str | None = None, image_size: int | None = None,
         seed: int = 0, **options) -> SliceSet:
    """Load data set ``name`` into memory as a SliceSet."""
    from keras_seg.errors import UserError

    if name == "synthetic":
        from keras_seg.data import synthetic

        return synthetic.generate(image_size=image_size or 128, seed=seed, **options)
    raise UserError(f"unknown data set '{name}'; valid names: {', '.join(DATA_NAMES)}")
