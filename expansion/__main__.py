"""``python -m expansion``."""

from .cli import main

main()
