"""python -m bot -> the command line."""

from bot import console

raise SystemExit(console())
