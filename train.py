"""Train a segmentation model: ``python train.py --help``. A thin call into keras_seg's CLI."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

from keras_seg.backend import relaunch_for_backend  # noqa: E402
from keras_seg.cli import main  # noqa: E402

if __name__ == "__main__":
    relaunch_for_backend(sys.argv[1:])  # --backend / training.backend: restart under that one
    sys.exit(main(["train", *sys.argv[1:]]))
