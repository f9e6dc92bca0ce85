"""The split of predicted volumes: the run's validation volumes, its training volumes, unseen."""

from keras_seg.inference.splits import same_source, volume_splits

RUN = {"name": "isbi", "dir": "/data/isbi", "options": {"foreground": "membrane"},
       "val_volume_ids": ["isbi_train_4-7"]}
VOLUMES = ["isbi_train_0-3", "isbi_train_4-7", "isbi_train_8-11"]


def test_the_runs_own_data_is_split_into_train_and_val():
    source = {"name": "isbi", "dir": "/data/isbi/", "options": {"subset": "train"}}
    assert volume_splits(RUN, source, VOLUMES) == {
        "isbi_train_0-3": "train", "isbi_train_4-7": "val", "isbi_train_8-11": "train"}


def test_other_files_or_grouping_are_unseen():
    # the test subset, another folder, another grouping into volumes, another data set
    for source in ({"name": "isbi", "dir": "/data/isbi", "options": {"subset": "test"}},
                   {"name": "isbi", "dir": "/elsewhere", "options": {}},
                   {"name": "isbi", "dir": "/data/isbi", "options": {"sections_per_volume": 2}},
                   {"name": "folder", "dir": "/data/isbi", "options": {}}):
        assert set(volume_splits(RUN, source, VOLUMES).values()) == {"unseen"}, source
    assert set(volume_splits({}, {"name": "isbi", "dir": "/data/isbi", "options": {}},
                             VOLUMES).values()) == {"unseen"}


def test_options_that_do_not_choose_files_keep_the_source():
    run = {"name": "lgg", "dir": "/d", "options": {"crop_to_brain": True}}
    assert same_source(run, {"name": "lgg", "dir": "/d", "options": {}})
    synthetic = {"name": "synthetic", "dir": None, "options": {"num_volumes": 6}}
    assert same_source(synthetic, {"name": "synthetic", "dir": None,
                                   "options": {"num_volumes": 6}})
    assert not same_source(synthetic, {"name": "synthetic", "dir": None, "options": {}})
