import numpy as np
import pytest

from redrive.errors import RedriveError
from redrive.eval.protocol import sensor_split, split_indices


def test_every_other_frame_is_held_out():
    train, held = split_indices(7)
    assert train.tolist() == [0, 2, 4, 6] and held.tolist() == [1, 3, 5]
    train, held = split_indices(9, every=3)
    assert held.tolist() == [2, 5, 8] and len(train) == 6
    train, held = split_indices(4, every=0)
    assert train.tolist() == [0, 1, 2, 3] and held.size == 0
    assert split_indices(0)[0].size == 0


def test_split_is_disjoint_and_complete():
    for n in range(1, 20):
        train, held = split_indices(n)
        assert np.intersect1d(train, held).size == 0
        assert sorted(np.concatenate([train, held]).tolist()) == list(range(n))


@pytest.mark.parametrize("every", [1, -2])
def test_bad_every_is_refused(every):
    with pytest.raises(RedriveError, match="every"):
        split_indices(5, every)


def test_per_sensor_split(tmp_path):
    from tests.conftest import write_small_log
    from redrive.log import DriveLog

    log = DriveLog.open(write_small_log(tmp_path / "log", frames=5))
    split = sensor_split(log)
    assert set(split) == set(log.cameras) | set(log.lidars)
    for s in split.values():
        assert s["heldout"].tolist() == [1, 3]
