"""The terminal console shared by every task (wide enough for tables when piped)."""
import sys

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
