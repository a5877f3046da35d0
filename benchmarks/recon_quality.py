"""Reconstruction quality of redrive on the default synthetic log, against the targets.

Generates the default synthetic log (or uses ``--log``), reconstructs it with the ``default``
preset (``--quick``: ``fast``), evaluates it on the held-out frames (every other frame per
sensor) and prints each figure next to its target; ``--json`` writes them. While training, a
probe renders a fixed random set of held-out pixels (20,000 over every held-out image) every
``--probe-every`` steps to find the time the run needs to reach 25 dB (probe time is excluded
from the training clock).

``--baselines`` also trains nerfstudio's nerfacto and neus-facto on the same log (exported to
nerfstudio format with the same held-out split) on the CPU for the same wall-clock time as
redrive's training took, then renders the same probe pixels with each of their checkpoints: the
PSNRs side by side and the time each method needs to reach 25 dB. nerfstudio pins protobuf <= 3.20.3
(redrive's Waymo reader needs >= 4.24), so it lives in its own environment (``make baselines-env`` makes ``.venv-ns``);
``--ns-python`` (default: ``$REDRIVE_NS_PYTHON``, else ``.venv-ns/bin/python``) names its Python,
which runs ``_nerfstudio_side.py``. Full-image held-out metrics (``ns-eval``) are not run for
them: rendering 75 images takes nerfstudio hours on this CPU; PSNR over the 20,000 probe pixels
estimates the same mean squared error.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH_DIR, BenchmarkReport, meets, standard_parser  # noqa: E402

TARGETS = {  # metric: (comparison, target)
    "heldout_psnr_db": (">=", 27.0), "heldout_ssim": (">=", 0.85), "actor_psnr_db": (">=", 24.0),
    "lidar_median_abs_m": ("<=", 0.10), "ray_drop_accuracy_pct": (">=", 95.0), "mesh_chamfer_mean_m": ("<=", 0.15),
    "peak_rss_gb": ("<=", 6.0), "train_wall_s": ("<=", 1200.0),
}


def _peak_rss_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return own / 1024**2  # ru_maxrss is KiB on Linux


def probe_pixels(log, scene, pixels: int = 20_000, seed: int = 0) -> list[dict]:
    """A fixed random set of held-out pixels, the same number from every held-out image: per
    image its camera, frame index, pixel columns/rows ``x, y`` and rays and colours."""
    import numpy as np

    from redrive.eval.protocol import split_indices
    from redrive.recon.data import camera_frame

    rng = np.random.default_rng(seed)
    images = [(cam, int(i)) for cam, sensor in log.cameras.items() for i in split_indices(len(sensor))[1]]
    parts = []
    for cam, i in images:
        f = camera_frame(log, scene, cam, i, 1, False)
        sel = rng.choice(len(f["times"]), pixels // len(images), replace=False)
        part = {k: f[k][sel] for k in ("origins", "directions", "times", "rgb")}
        parts.append(part | {"cam": cam, "i": i, "x": f["uv"][sel, 0].astype(np.int64), "y": f["uv"][sel, 1].astype(np.int64)})
    return parts


class HeldoutProbe:
    """PSNR of the probe pixels (``probe_pixels``), at a training-time clock."""

    def __init__(self, log, scene, every: int):
        import numpy as np
        import torch

        self.parts, self.every = probe_pixels(log, scene), every
        self.t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
        self.curve: list[tuple[int, float, float]] = []
        self.excluded = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, trainer, force: bool = False) -> None:
        import numpy as np
        import torch

        from redrive.eval.protocol import split_indices
        from redrive.recon.data import image_keys
        from redrive.recon.renderer import render_chunked

        if trainer.step % self.every and not force:
            return
        start = time.perf_counter()
        keys = image_keys(trainer.log)
        o, d, t = (self.t(np.concatenate([p[k] for p in self.parts])) for k in ("origins", "directions", "times"))
        r = render_chunked(trainer.model, o, d, t, 8192)
        se, row = [], 0
        for p in self.parts:
            n = len(p["times"])
            train = split_indices(len(trainer.log.camera(p["cam"])))[0]
            nb = [keys[p["cam"]] + int(j) for j in train[np.argsort(np.abs(train - p["i"]))[:2]]]
            mat, off = trainer.model.appearance.interpolated(nb)
            with torch.no_grad():
                rgb = (r["rgb"][row:row + n] @ mat.T + off).clamp(0, 1).numpy()
            se.append(((rgb - p["rgb"]) ** 2).ravel())
            row += n
        psnr = float(-10 * np.log10(np.concatenate(se).mean()))
        self.excluded += time.perf_counter() - start
        self.curve.append((trainer.step, time.perf_counter() - self.t0 - self.excluded, psnr))


def time_to(curve: list[tuple[int, float, float]], db: float) -> float:
    """First training time of ``(step, seconds, PSNR)`` points at which PSNR reached ``db`` (nan: never)."""
    return next((t for _, t, p in curve if p >= db), float("nan"))


def run_redrive(log_dir: Path, run_dir: Path, preset_name: str, probe_every: int, overrides: list[str]) -> tuple[dict, dict]:
    from redrive.eval.evaluate import evaluate_run
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    if run_dir.exists():
        shutil.rmtree(run_dir)
    t0 = time.perf_counter()
    trainer = Trainer(log_dir, run_dir, preset(preset_name, overrides))
    probe = HeldoutProbe(trainer.log, trainer.scene, probe_every)
    setup_s = time.perf_counter() - t0
    probe.t0 = time.perf_counter()
    trainer.train(on_step=probe)
    train_s = time.perf_counter() - probe.t0 - probe.excluded + setup_s
    if not probe.curve or probe.curve[-1][0] != trainer.step:
        probe(trainer, force=True)  # the final model on the probe pixels
    t1 = time.perf_counter()
    result = evaluate_run(run_dir, run_dir / "eval")
    return result, {"train_wall_s": train_s, "setup_s": setup_s, "eval_wall_s": time.perf_counter() - t1,
                    "time_to_25db_s": time_to(probe.curve, 25.0), "curve": probe.curve, "probe": probe.parts}


SIDE = Path(__file__).resolve().parent / "_nerfstudio_side.py"


def export_for_nerfstudio(log_dir: Path, data: Path) -> dict[tuple[str, int], str]:
    """The log as a nerfstudio dataset with redrive's held-out split (``--eval-mode filename``);
    returns each image's file name by (camera, frame index)."""
    from redrive.eval.protocol import split_indices
    from redrive.export.nerfstudio import export
    from redrive.log import DriveLog

    if not data.exists():
        export(log_dir, data)
    meta = json.loads((data / "transforms.json").read_text())
    log = DriveLog.open(log_dir)
    held = {cam: set(split_indices(len(s))[1].tolist()) for cam, s in log.cameras.items()}
    names, train, test = {}, [], []
    for f in meta["frames"]:
        idx = int(abs(log.camera(f["camera"]).frame_times - f["time_s"]).argmin())
        names[(f["camera"], idx)] = Path(f["file_path"]).name
        (test if idx in held[f["camera"]] else train).append(f["file_path"])
    meta["train_filenames"], meta["val_filenames"], meta["test_filenames"] = train, test, test
    (data / "transforms.json").write_text(json.dumps(meta))
    return names


def write_probe_npz(parts: list[dict], names: dict[tuple[str, int], str], path: Path) -> None:
    """The probe pixels as ``_nerfstudio_side.py probe`` reads them."""
    import numpy as np

    files = [names[(p["cam"], p["i"])] for p in parts]
    np.savez(path, files=np.array(files), image=np.concatenate([np.full(len(p["x"]), k) for k, p in enumerate(parts)]),
             xy=np.concatenate([np.stack([p["x"], p["y"]], 1) for p in parts]),
             rgb=np.concatenate([p["rgb"] for p in parts]))


def run_nerfstudio(ns_python: str, data: Path, work: Path, method: str, budget_s: float, probe_npz: Path,
                   steps_per_save: int) -> dict:
    """Train nerfstudio ``method`` on ``data`` on the CPU for ``budget_s`` seconds (checkpoints
    every ``steps_per_save`` steps), then the probe PSNR of every checkpoint against its file
    time: ``{"curve": [(step, seconds, PSNR)], "psnr_db", "steps"}`` or ``{"error"}``."""
    out = work / method
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [ns_python, str(SIDE), "train", method, "--data", str(data.resolve()), "--output-dir", str(out.resolve()),
           "--machine.device-type", "cpu", "--vis", "tensorboard", "--max-num-iterations", "1000000",
           "--steps-per-save", str(steps_per_save), "--save-only-latest-checkpoint", "False"]
    if method == "neus-facto":  # a street is unbounded: model what lies outside the SDF's sphere
        cmd += ["--pipeline.model.background-model", "mlp"]
    cmd += ["nerfstudio-data", "--eval-mode", "filename"]
    t0 = time.time()
    with open(out / "train.log", "w") as log:
        try:
            subprocess.run(cmd, timeout=budget_s, check=False, stdout=log, stderr=subprocess.STDOUT)
        except subprocess.TimeoutExpired:
            pass  # the budget is over: the checkpoints written so far are probed
    configs = sorted(out.rglob("config.yml"))
    if not configs:
        return {"error": f"ns-train {method} wrote no config (see {out / 'train.log'})"}
    result = out / "probe.json"
    proc = subprocess.run([ns_python, str(SIDE), "probe", str(configs[-1]), str(probe_npz), str(result)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not result.exists():
        return {"error": f"probe of {method} failed: {proc.stderr[-800:]}"}
    points = json.loads(result.read_text())
    if not points:
        return {"error": f"{method} saved no checkpoint within {budget_s:.0f} s (see {out / 'train.log'})"}
    curve = [(p["step"], p["mtime"] - t0, p["psnr_db"]) for p in points]
    return {"curve": curve, "psnr_db": curve[-1][2], "steps": curve[-1][0]}


def _ns_python(arg: str | None) -> str | None:
    for candidate in (arg, os.environ.get("REDRIVE_NS_PYTHON"), str(Path(__file__).resolve().parents[1] / ".venv-ns/bin/python")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def run_baselines(args, report, log_dir: Path, work: Path, timing: dict) -> None:
    """nerfacto and neus-facto for redrive's training time; PSNR on the probe pixels side by side."""
    report.section("nerfstudio baselines (same log and split, CPU, same wall-clock budget; probe pixels)")
    ns_python = _ns_python(args.ns_python)
    if ns_python is None:
        print("  no nerfstudio environment (make baselines-env, or --ns-python / $REDRIVE_NS_PYTHON): skipped")
        return
    names = export_for_nerfstudio(log_dir, work / "nerfstudio")
    write_probe_npz(timing["probe"], names, work / "probe_pixels.npz")
    ours = timing["curve"][-1][2]
    report.add("redrive_probe_psnr_db", ours, "redrive, final model")
    report.add("redrive_time_to_25db_s", timing["time_to_25db_s"], "redrive, training seconds to 25 dB")
    for method in ("nerfacto", "neus-facto"):
        key = method.replace("-", "_")
        res = run_nerfstudio(ns_python, work / "nerfstudio", work, method, timing["train_wall_s"],
                             work / "probe_pixels.npz", args.ns_steps_per_save)
        if "error" in res:
            print(f"  {method}: {res['error']}")
            continue
        report.add(f"{key}_probe_psnr_db", res["psnr_db"], f"{method} after {res['steps']} steps (redrive {ours:.2f})")
        report.add(f"{key}_time_to_25db_s", time_to(res["curve"], 25.0), f"{method}, seconds to 25 dB (nan: not reached)")
        for step, t, p in res["curve"]:
            print(f"    {method} {step:6d} {t:8.1f} s {p:7.2f} dB")


def main() -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--log", type=Path, default=None, help="use this DriveLog instead of generating the default one")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "recon_quality",
                        help="work directory: log, run (reused by the rendering and editing benchmarks)")
    parser.add_argument("--preset", default=None, help="recon preset (default: default; --quick: fast)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    parser.add_argument("--probe-every", type=int, default=250, help="steps between held-out PSNR probes")
    parser.add_argument("--baselines", action="store_true", help="also run nerfstudio nerfacto and neus-facto")
    parser.add_argument("--ns-python", default=None, help="Python of the nerfstudio environment")
    parser.add_argument("--ns-steps-per-save", type=int, default=25, help="nerfstudio checkpoint interval (steps)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    report = BenchmarkReport("recon_quality")
    work = args.out
    work.mkdir(parents=True, exist_ok=True)
    log_dir = args.log
    if log_dir is None:
        from redrive.log.synth import generate

        log_dir = work / "log"
        if not (log_dir / "log.json").exists():
            generate(log_dir, preset="default", seed=0, overwrite=True)
    name = args.preset or ("fast" if args.quick else "default")
    result, timing = run_redrive(log_dir, work / "run", name, args.probe_every, args.overrides)
    figures = {
        "heldout_psnr_db": result.get("psnr_db", float("nan")), "heldout_ssim": result.get("ssim", float("nan")),
        "actor_psnr_db": result.get("actor_psnr_db", float("nan")), "actor_ssim": result.get("actor_ssim", float("nan")),
        "lidar_median_abs_m": result.get("lidar_median_abs_m", float("nan")),
        "lidar_median_sq_m2": result.get("lidar_median_sq_m2", float("nan")),
        "intensity_rmse": result.get("intensity_rmse", float("nan")),
        "ray_drop_accuracy_pct": 100.0 * result.get("ray_drop_accuracy", float("nan")),
        "lidar_chamfer_mean_m": result.get("lidar_chamfer_mean_m", float("nan")),
        "lidar_chamfer_sq_sum_per_gt_m2": result.get("lidar_chamfer_sq_sum_per_gt_m2", float("nan")),
        "mesh_chamfer_mean_m": result.get("mesh_chamfer_mean_m", float("nan")),
        "train_wall_s": timing["train_wall_s"], "eval_wall_s": timing["eval_wall_s"],
        "time_to_25db_s": timing["time_to_25db_s"], "peak_rss_gb": _peak_rss_gb(),
    }
    report.section(f"redrive, preset {name!r}, {result.get('heldout_images', 0)} held-out images ({work})")
    for key, value in figures.items():
        cmp_target = TARGETS.get(key)
        label = key
        if cmp_target:
            op, target = cmp_target
            label = f"{key}  (target {op} {target:g}: {'met' if meets(value, op, target) else 'NOT met'})"
        report.add(key, value, label)
    report.section("held-out probe (step, training seconds, PSNR dB)")
    for step, t, p in timing["curve"]:
        print(f"  {step:6d} {t:8.1f} {p:7.2f}")
    if args.baselines:
        run_baselines(args, report, log_dir, work, timing)
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
