"""``python -m keras_seg [train|predict|export] ...``"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

from keras_seg.backend import relaunch_for_backend  # noqa: E402

relaunch_for_backend(sys.argv[1:])  # --backend / training.backend: restart under that backend

from keras_seg.cli import main  # noqa: E402

sys.exit(main())
