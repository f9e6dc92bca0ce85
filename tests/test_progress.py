"""keras_seg.progress: a few plain lines (no carriage returns) when the output is not a terminal."""

import io

from keras_seg.progress import Progress, track


def test_log_output_is_five_plain_lines():
    stream = io.StringIO()
    bar = Progress(960, "reading", unit="file", stream=stream)
    for _ in range(960):
        bar.add(1)
    bar.close()  # a second close adds nothing
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 5
    assert [line.split(",")[0] for line in lines] == [
        "reading: 0/960 files (0%)", "reading: 240/960 files (25%)",
        "reading: 480/960 files (50%)", "reading: 720/960 files (75%)",
        "reading: 960/960 files (100%)"]


def test_big_steps_print_one_line_each_and_silence():
    stream = io.StringIO()
    bar = Progress(3, "predicting", unit="volume", stream=stream)
    bar.add(2)
    bar.add(1)
    assert [line.split(" (")[0] for line in stream.getvalue().splitlines()] == [
        "predicting: 0/3 volumes", "predicting: 2/3 volumes", "predicting: 3/3 volumes"]
    quiet = io.StringIO()
    assert list(track(range(4), "x", verbose=0, stream=quiet)) == [0, 1, 2, 3]
    assert quiet.getvalue() == ""
