"""The nerfstudio side of ``recon_quality.py --baselines``: run with the Python of the environment
where nerfstudio is installed (it pins protobuf <= 3.20.3, so it cannot share
redrive's environment). Imports nerfstudio, never redrive.

    python _nerfstudio_side.py train METHOD ARGS...   # ns-train METHOD ARGS...
    python _nerfstudio_side.py probe CONFIG PIXELS.npz OUT.json

Both replace torchmetrics' LPIPS by a stand-in first: nerfstudio's models build it at start-up
and it downloads AlexNet weights, which this machine must not do (LPIPS is not reported); and let
neus-facto's dataset work with the nerfstudio-data parser (no monocular priors) and its SDF grid
run on the CPU (nerfstudio's torch hash encoding instead of tiny-cuda-nn).

``probe`` renders the held-out pixels listed in ``PIXELS.npz`` (``files`` [K] held-out image
file names, ``image`` [P] row into ``files``, ``xy`` [P, 2] pixel column/row, ``rgb`` [P, 3]
ground truth in [0, 1]) with every checkpoint of the run, and writes ``[{"step", "mtime",
"psnr_db"}]``: the same pixels for each method, so the PSNRs are comparable across methods and
over training time (checkpoint file times are the training clock).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _no_lpips() -> None:
    import torch
    import torchmetrics.image.lpip as lpip

    class NoLPIPS(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()

        def forward(self, *args, **kwargs):
            return torch.tensor(float("nan"))

    lpip.LearnedPerceptualImagePatchSimilarity = NoLPIPS


def _sdf_dataset_without_priors() -> None:
    """neus-facto's dataset reads keys that only the sdfstudio data parser sets; with the
    nerfstudio-data parser (no monocular depth/normal priors) they are empty."""
    import nerfstudio.data.datasets.sdf_dataset as sdf_dataset

    init = sdf_dataset.SDFDataset.__init__

    def patched(self, dataparser_outputs, scale_factor: float = 1.0):
        for key, value in (("depth_filenames", None), ("normal_filenames", None), ("camera_to_worlds", None),
                           ("transform", None), ("include_mono_prior", False)):
            dataparser_outputs.metadata.setdefault(key, value)
        init(self, dataparser_outputs, scale_factor)

    sdf_dataset.SDFDataset.__init__ = patched


def _sdf_grid_in_torch() -> None:
    """neus-facto's SDF field builds its hash grid with tiny-cuda-nn only, which needs a GPU; give
    it nerfstudio's own pure-torch hash encoding (what nerfacto falls back to without tiny-cuda-nn)
    with the same levels, table size and resolutions."""
    import nerfstudio.fields.sdf_field as sdf_field
    from nerfstudio.field_components.encodings import HashEncoding

    class TorchGrids:
        @staticmethod
        def Encoding(n_input_dims: int, encoding_config: dict):  # noqa: N802 (tiny-cuda-nn's name)
            c = encoding_config
            if c["otype"] != "HashGrid" or n_input_dims != 3:
                raise NotImplementedError(f"no torch stand-in for {c['otype']} with {n_input_dims} inputs")
            grid = HashEncoding(num_levels=c["n_levels"], min_res=c["base_resolution"],
                                max_res=c["base_resolution"] * c["per_level_scale"] ** (c["n_levels"] - 1),
                                log2_hashmap_size=c["log2_hashmap_size"], features_per_level=c["n_features_per_level"],
                                implementation="torch")
            grid.n_output_dims = grid.get_out_dim()  # tiny-cuda-nn's attribute, which the field reads
            return grid

    sdf_field.tcnn = TorchGrids


def train(argv: list[str]) -> None:
    from nerfstudio.scripts.train import entrypoint

    sys.argv = ["ns-train", *argv]
    entrypoint()


def probe(config: str, pixels: str, out: str) -> None:
    import numpy as np
    import torch
    import yaml
    from nerfstudio.configs.method_configs import all_methods

    data = np.load(pixels, allow_pickle=False)
    cfg_path = Path(config)
    # as nerfstudio's eval_setup, without its checkpoint loading (each checkpoint is loaded below);
    # the config is the YAML that ns-train wrote for this run, with Python object tags
    cfg = yaml.load(cfg_path.read_text(), Loader=yaml.Loader)
    cfg.pipeline.datamanager._target = all_methods[cfg.method_name].pipeline.datamanager._target
    pipeline = cfg.pipeline.setup(device=torch.device("cpu"), test_mode="test")
    dataset = pipeline.datamanager.eval_dataset
    names = [Path(p).name for p in dataset.image_filenames]
    rows = np.array([names.index(str(f)) for f in data["files"]])
    cams = torch.from_numpy(rows[data["image"]]).long()[:, None]
    # nerfstudio's pixel coordinates are (row, column) of the pixel centre
    coords = torch.from_numpy(data["xy"][:, ::-1].astype(np.float32) + 0.5)
    gt = data["rgb"].astype(np.float64)
    ckpt_dir = cfg_path.parent / "nerfstudio_models"
    results = []
    model = pipeline.model
    for ckpt in sorted(ckpt_dir.glob("step-*.ckpt")):
        try:  # our own run's file; the one being written when the budget ran out may be cut short
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
        except (RuntimeError, EOFError) as exc:
            print(f"{ckpt.name}: unreadable ({exc}), skipped", flush=True)
            continue
        model_state = {k[len("_model."):]: v for k, v in state["pipeline"].items() if k.startswith("_model.")}
        model.load_state_dict(model_state, strict=True)
        model.eval()
        rgb = []
        with torch.no_grad():
            for s in range(0, len(cams), 4096):
                bundle = dataset.cameras.generate_rays(camera_indices=cams[s:s + 4096], coords=coords[s:s + 4096])
                # the model renders "images": a [P, 1] one is a column of pixels
                rgb.append(model.get_outputs_for_camera_ray_bundle(bundle.reshape((-1, 1)))["rgb"])
        pred = torch.cat(rgb).reshape(-1, 3).clamp(0, 1).double().numpy()
        mse = float(((pred - gt) ** 2).mean())
        results.append({"step": int(state["step"]), "mtime": ckpt.stat().st_mtime, "psnr_db": -10.0 * np.log10(mse)})
        print(f"{ckpt.name}: {results[-1]['psnr_db']:.2f} dB", flush=True)
    Path(out).write_text(json.dumps(results))


if __name__ == "__main__":
    _no_lpips()
    _sdf_dataset_without_priors()
    _sdf_grid_in_torch()
    if sys.argv[1] == "train":
        train(sys.argv[2:])
    elif sys.argv[1] == "probe":
        probe(*sys.argv[2:5])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}: train or probe")
