"""One module per ``emmel`` subcommand (see emmel/cli.py)."""
