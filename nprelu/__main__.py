"""`python -m nprelu ...` does what the `nprelu` command does."""

from .cli import main

main()
