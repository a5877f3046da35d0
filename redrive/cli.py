"""The `redrive` command.

Each subcommand lives in the package that owns its work, in a module exposing
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only argparse-level
things at module scope, so `redrive --help` stays fast; heavy imports happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from redrive.errors import RedriveError

# name -> (module, one-line help). Order is the order shown by `redrive --help`.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("redrive.commands.demo", "run the main job on the bundled default log"),
    "synth": ("redrive.log.synth.command", "generate a synthetic DriveLog with ground truth"),
    "info": ("redrive.log.info", "print a summary of a DriveLog"),
    "import": ("redrive.log.readers.command", "convert a public dataset log (av2, nuscenes, waymo, kitti) into a DriveLog"),
    "export": ("redrive.export.command", "export a log or render as a DriveLog, KITTI or nerfstudio dataset"),
    "view": ("redrive.viewer", "write a rerun recording of one log, or two logs side by side (before/after an edit)"),
    "recon": ("redrive.recon.command", "reconstruct a DriveLog into neural fields (background, actors, sky)"),
    "eval": ("redrive.eval.command", "held-out metrics and picture grids of a reconstruction"),
    "edit": ("redrive.editing.command", "remove, move and insert actors of a reconstruction and render the edited drive"),
    "mesh": ("redrive.recon.mesh_command", "background and per-actor meshes (PLY) of a reconstruction"),
    "render": ("redrive.render.command", "re-simulate cameras and LiDARs of a reconstruction along a trajectory (DriveLog + previews)"),
    "build-ext": ("redrive.ops.build_command", "build the native kernels now (CPU; --cuda: nvcc compile of the CUDA sources)"),
}

ALIASES: dict[str, str] = {"reconstruct": "recon", "evaluate": "eval"}
"""Long names accepted for the commands whose names are short (alias -> command)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (all of them are listed for --help)."""
    parser = argparse.ArgumentParser(prog="redrive", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        aliases = [a for a, target in ALIASES.items() if target == name]
        p = sub.add_parser(name, aliases=aliases, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    command = ALIASES.get(command, command)
    args = build_parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except RedriveError as exc:
        # Errors about the user's input are reported plainly; bugs keep their traceback.
        print(f"redrive {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
