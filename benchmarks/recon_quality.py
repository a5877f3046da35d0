"""Reconstruction quality of redrive on the default synthetic log, against the targets.

Generates the default synthetic log (or uses ``--log``), reconstructs it with the ``default``
preset (``--quick``: ``fast``), evaluates it on the held-out frames (every other frame per
sensor) and prints each figure next to its target; ``--json`` writes them. While training, a
probe renders a fixed subset of held-out pixels every ``--probe-every`` steps to find the time
the run needs to reach 25 dB (probe time is excluded from the training clock).

``--baselines`` also trains nerfstudio's nerfacto and neus-facto on the same log (exported to
nerfstudio format with the same held-out split, CPU, same wall-clock budget) when nerfstudio is
importable (the optional ``baselines`` extra; install it in a separate environment, it
downgrades numpy and protobuf); otherwise it says so and skips them.
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
from _common import BENCH_DIR, BenchmarkReport, standard_parser  # noqa: E402

TARGETS = {  # metric: (comparison, target)
    "heldout_psnr_db": (">=", 27.0), "heldout_ssim": (">=", 0.85), "actor_psnr_db": (">=", 24.0),
    "lidar_median_abs_m": ("<=", 0.10), "ray_drop_accuracy_pct": (">=", 95.0), "mesh_chamfer_mean_m": ("<=", 0.15),
    "peak_rss_gb": ("<=", 6.0), "train_wall_s": ("<=", 1200.0),
}


def _peak_rss_gb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return own / 1024**2  # ru_maxrss is KiB on Linux


class HeldoutProbe:
    """PSNR of a fixed random subset of held-out pixels, at a training-time clock."""

    def __init__(self, log, scene, every: int, pixels: int = 20_000):
        import numpy as np
        import torch

        from redrive.eval.protocol import split_indices
        from redrive.recon.data import camera_frame

        rng = np.random.default_rng(0)
        parts = []
        for cam, sensor in log.cameras.items():
            for i in split_indices(len(sensor))[1][::3]:
                f = camera_frame(log, scene, cam, int(i), 1, False)
                sel = rng.choice(len(f["times"]), pixels // 20, replace=False)
                parts.append({k: f[k][sel] for k in ("origins", "directions", "times", "rgb")} | {"cam": cam, "i": int(i)})
        self.parts, self.every = parts, every
        self.t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
        self.curve: list[tuple[int, float, float]] = []
        self.excluded = 0.0
        self.t0 = time.perf_counter()

    def __call__(self, trainer) -> None:
        import numpy as np
        import torch

        from redrive.eval.protocol import split_indices
        from redrive.recon.data import image_keys
        from redrive.recon.renderer import render_chunked

        if trainer.step % self.every:
            return
        start = time.perf_counter()
        keys = image_keys(trainer.log)
        se = []
        for p in self.parts:
            r = render_chunked(trainer.model, self.t(p["origins"]), self.t(p["directions"]), self.t(p["times"]), 8192)
            train = split_indices(len(trainer.log.camera(p["cam"])))[0]
            nb = [keys[p["cam"]] + int(j) for j in train[np.argsort(np.abs(train - p["i"]))[:2]]]
            mat, off = trainer.model.appearance.interpolated(nb)
            with torch.no_grad():
                rgb = (r["rgb"] @ mat.T + off).clamp(0, 1).numpy()
            se.append(((rgb - p["rgb"]) ** 2).ravel())
        psnr = float(-10 * np.log10(np.concatenate(se).mean()))
        self.excluded += time.perf_counter() - start
        self.curve.append((trainer.step, time.perf_counter() - self.t0 - self.excluded, psnr))

    def time_to(self, db: float) -> float:
        for _, t, p in self.curve:
            if p >= db:
                return t
        return float("nan")


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
    t1 = time.perf_counter()
    result = evaluate_run(run_dir, run_dir / "eval")
    return result, {"train_wall_s": train_s, "setup_s": setup_s, "eval_wall_s": time.perf_counter() - t1,
                    "time_to_25db_s": probe.time_to(25.0), "curve": probe.curve}


def run_nerfstudio(log_dir: Path, work: Path, method: str, budget_s: float) -> dict:
    """Train nerfstudio ``method`` on the exported log (our split) for ``budget_s`` seconds on the
    CPU and evaluate it with ns-eval; returns its PSNR/SSIM or the reason it could not run."""
    from redrive.eval.protocol import split_indices
    from redrive.export.nerfstudio import export

    data = work / "nerfstudio"
    if not data.exists():
        export(log_dir, data)
        meta = json.loads((data / "transforms.json").read_text())
        from redrive.log import DriveLog

        log = DriveLog.open(log_dir)
        held = {cam: set(split_indices(len(s))[1].tolist()) for cam, s in log.cameras.items()}
        train, test = [], []
        for f in meta["frames"]:
            idx = int(abs(log.camera(f["camera"]).frame_times - f["time_s"]).argmin())
            (test if idx in held[f["camera"]] else train).append(f["file_path"])
        meta["train_filenames"], meta["val_filenames"], meta["test_filenames"] = train, test, test
        (data / "transforms.json").write_text(json.dumps(meta))
    out = work / method
    cmd = ["ns-train", method, "--data", str(data), "--output-dir", str(out), "--machine.device-type", "cpu",
           "--vis", "tensorboard", "--viewer.quit-on-train-completion", "True", "--max-num-iterations", "1000000",
           "nerfstudio-data", "--eval-mode", "filename"]
    t0 = time.perf_counter()
    try:
        subprocess.run(cmd, timeout=budget_s, check=False, capture_output=True)
    except subprocess.TimeoutExpired:
        pass  # the budget is over; the latest checkpoint is evaluated
    train_s = time.perf_counter() - t0
    configs = sorted(out.rglob("config.yml"))
    if not configs:
        return {"error": f"ns-train {method} wrote no config (see {out})"}
    metrics_path = out / "eval.json"
    proc = subprocess.run(["ns-eval", "--load-config", str(configs[-1]), "--output-path", str(metrics_path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not metrics_path.exists():
        return {"error": f"ns-eval failed: {proc.stderr[-500:]}"}
    res = json.loads(metrics_path.read_text())["results"]
    return {"psnr_db": res.get("psnr"), "ssim": res.get("ssim"), "train_wall_s": train_s}


def main() -> int:
    parser = standard_parser(__doc__)
    parser.add_argument("--log", type=Path, default=None, help="use this DriveLog instead of generating the default one")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "recon_quality",
                        help="work directory: log, run (reused by the rendering and editing benchmarks)")
    parser.add_argument("--preset", default=None, help="recon preset (default: default; --quick: fast)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="config override (repeatable)")
    parser.add_argument("--probe-every", type=int, default=250, help="steps between held-out PSNR probes")
    parser.add_argument("--baselines", action="store_true", help="also run nerfstudio nerfacto and neus-facto")
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
            ok = value >= target if op == ">=" else value <= target
            label = f"{key}  (target {op} {target:g}: {'met' if ok else 'NOT met'})"
        report.add(key, value, label)
    report.section("held-out probe (step, training seconds, PSNR dB)")
    for step, t, p in timing["curve"]:
        print(f"  {step:6d} {t:8.1f} {p:7.2f}")
    if args.baselines:
        report.section("nerfstudio baselines (same log, same split, CPU, same wall-clock budget)")
        try:
            import nerfstudio  # noqa: F401
        except ImportError:
            print("  nerfstudio is not importable here: baselines skipped (install the optional 'baselines' extra "
                  "in a separate environment; it downgrades numpy and protobuf)")
        else:
            for method in ("nerfacto", "neus-facto"):
                res = run_nerfstudio(log_dir, work, method, timing["train_wall_s"])
                if "error" in res:
                    print(f"  {method}: {res['error']}")
                    continue
                report.add(f"{method.replace('-', '_')}_psnr_db", res["psnr_db"], f"{method} held-out PSNR (ours "
                           f"{figures['heldout_psnr_db']:.2f})")
                report.add(f"{method.replace('-', '_')}_ssim", res["ssim"], f"{method} held-out SSIM")
                print(f"  {method}: time to 25 dB not measured (ns-train logs no held-out PSNR over time on CPU runs)")
    report.finish(args.json)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    sys.exit(main())
