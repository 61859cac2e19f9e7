"""Sub-commands of `facekd` (see facekd.cli)."""
