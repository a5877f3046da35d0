from dataclasses import dataclass, field
from typing import Literal

import pytest

from redrive import config
from redrive.errors import LogFormatError, RedriveError


@dataclass
class Optim:
    lr: float = 1e-2
    """Learning rate."""
    betas: tuple[float, ...] = (0.9, 0.99)
    """Adam betas."""


@dataclass
class Train:
    steps: int = 100
    """Optimisation steps."""
    sampler: Literal["uniform", "importance"] = "uniform"
    """How rays are drawn."""
    log_dir: str | None = None
    """Where to write logs (None: the run directory)."""
    optim: Optim = field(default_factory=Optim)
    """Optimiser settings."""


def test_round_trip_and_int_to_float():
    cfg = config.from_dict(Train, {"steps": 5, "optim": {"lr": 1, "betas": [0.5, 0.6]}})
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float) and cfg.optim.betas == (0.5, 0.6)
    assert config.from_dict(Train, config.to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "data, field_name, reason",
    [
        ({"step": 5}, "step", "unknown option"),
        ({"steps": "5"}, "steps", "expected int"),
        ({"steps": True}, "steps", "expected int"),
        ({"sampler": "random"}, "sampler", "must be one of"),
        ({"optim": {"lr": "fast"}}, "optim.lr", "expected float"),
        ({"optim": {"betas": [0.9, "x"]}}, "optim.betas[1]", "expected float"),
    ],
)
def test_bad_values_name_file_and_field(data, field_name, reason):
    with pytest.raises(LogFormatError) as info:
        config.from_dict(Train, data, "run/config.json")
    assert info.value.path == "run/config.json" and info.value.field == field_name
    assert reason in info.value.reason


def test_overrides():
    cfg = config.apply_overrides(Train(), ["steps=7", "optim.lr=0.5", "log_dir=/tmp/x", "sampler=importance"])
    assert (cfg.steps, cfg.optim.lr, cfg.log_dir, cfg.sampler) == (7, 0.5, "/tmp/x", "importance")
    with pytest.raises(RedriveError, match="no option 'stepz'"):
        config.apply_overrides(Train(), ["stepz=1"])
    with pytest.raises(LogFormatError, match="expected int"):
        config.apply_overrides(Train(), ["steps=many"])


def test_describe_shows_docstrings():
    text = config.describe(Train())
    assert "steps = 100  # Optimisation steps." in text
    assert "optim:\n  lr = 0.01  # Learning rate." in text
