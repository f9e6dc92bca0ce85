"""The command-line commands other than ``train``: each module has ``build_parser()`` and
``run(args) -> exit status``; ``keras_seg.cli`` dispatches to them."""
