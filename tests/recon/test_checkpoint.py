import json

import pytest
import torch

from redrive.recon.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, save_checkpoint


def state(step):
    torch.manual_seed(step)
    return {"weights": torch.randn(64, 8), "optimizer": {"lr": 0.01, "moments": [torch.ones(3) * step]}, "rng": torch.get_rng_state()}


def test_save_and_resume_the_latest(tmp_path):
    for step in (10, 20, 30):
        save_checkpoint(tmp_path, step, state(step), keep=2)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.pt")) == ["ckpt-00000020.pt", "ckpt-00000030.pt"]
    ckpt, refused = latest_checkpoint(tmp_path)
    assert refused == [] and ckpt["step"] == 30
    torch.testing.assert_close(ckpt["state"]["weights"], state(30)["weights"])
    assert ckpt["state"]["optimizer"]["moments"][0][0].item() == 30


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_checkpoint_is_refused_and_the_previous_one_is_used(tmp_path, damage):
    save_checkpoint(tmp_path, 1, state(1))
    newest = save_checkpoint(tmp_path, 2, state(2))
    data = bytearray(newest.read_bytes())
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    else:
        data[len(data) // 2] ^= 0xFF
        newest.write_bytes(bytes(data))
    ckpt, refused = latest_checkpoint(tmp_path)
    assert ckpt["step"] == 1
    assert len(refused) == 1 and "ckpt-00000002.pt" in refused[0]
    assert ("truncated" in refused[0]) if damage == "truncate" else ("corrupted" in refused[0])
    entry = json.loads((tmp_path / "checkpoints.json").read_text())[-1]
    with pytest.raises(CheckpointError, match="ckpt-00000002.pt"):
        load_checkpoint(newest, entry)
    assert newest.exists()  # kept for inspection


def test_foreign_files_are_never_unpickled(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"redrive_checkpoint": 1, "step": 0, "state": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a redrive checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_no_checkpoint_yet(tmp_path):
    assert latest_checkpoint(tmp_path) == (None, [])
