"""CLI subcommands that span several packages (demo)."""
