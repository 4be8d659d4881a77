"""Switches the command line sets for the whole run (kept apart so that setting one
imports nothing else)."""

verbose = False  # lockgen -v: log every command lockgen runs
