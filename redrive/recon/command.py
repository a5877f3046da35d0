"""`redrive recon LOG --out RUN [--preset fast|default|quality] [--set section.option=value ...]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="DriveLog directory")
    parser.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, config, scene graph)")
    parser.add_argument("--preset", default="default", help="fast (the demo), default or quality")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                        help="override a config option (repeatable), e.g. --set train.steps=500")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config with its docs and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from redrive.config import describe
    from redrive.recon.config import preset
    from redrive.recon.trainer import Trainer

    cfg = preset(args.preset, args.overrides)
    if args.print_config:
        print(describe(cfg))
        return 0
    trainer = Trainer(args.log, args.out, cfg, resume=args.resume, progress=not args.quiet)
    if args.resume:
        print(f"resuming {args.out} at step {trainer.step} of {trainer.cfg.train.steps}")
    result = trainer.train()
    last = result["curves"][-1] if result["curves"] else {}
    print(f"trained {result['step']} steps into {args.out}" + (f" (training PSNR {last['psnr']:.2f} dB)" if last else ""))
    return 0
