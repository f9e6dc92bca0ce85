"""``python -m keras_seg postprocess --run RUN``: choose post-processing on a run's validation
volumes and record it in the run (``RUN/postprocess.json``), for ``predict`` to apply."""

from __future__ import annotations

import argparse

from keras_seg.commands.common import Parser, positive_int
from keras_seg.commands.predict import add_inference_options


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m keras_seg postprocess",
               description="Try connected-component post-processing (keep the largest 3D "
                           "component; remove components below N voxels) on a run's "
                           "validation volumes; record the best one in the run if it raises "
                           "the mean per-volume DSC.")
    p.add_argument("--run", required=True, help="the run directory (holding best.keras)")
    p.add_argument("--data-dir", help="data set folder, if it moved since training")
    add_inference_options(p)
    p.add_argument("--min-voxels", type=positive_int, nargs="+",
                   help="remove_small thresholds to try (default 10 50 100 250 500 1000)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from keras_seg.inference.postprocess import DEFAULT_MIN_VOXELS
    from keras_seg.predict import choose_postprocessing

    record = choose_postprocessing(
        args.run, data_dir=args.data_dir, threshold=args.threshold, batch_size=args.batch_size,
        tta=args.tta, window=args.window, tile=args.tile, overlap=args.overlap,
        min_voxels=args.min_voxels or DEFAULT_MIN_VOXELS)
    print(f"validation mean per-volume DSC without post-processing: "
          f"{record['baseline_dsc']:.4f} ({len(record['volumes'])} volumes)")
    for c in record["candidates"]:
        name = c["name"] if c["min_voxels"] is None else f"{c['name']} < {c['min_voxels']}"
        print(f"  {name:<22} {c['dsc']:.4f}")
    chosen = record["chosen"]
    print("chosen: " + ("none (no candidate raises the DSC)" if chosen is None else
                        chosen["name"] + ("" if chosen["min_voxels"] is None
                                          else f" < {chosen['min_voxels']} voxels")))
    return 0
