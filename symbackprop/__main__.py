"""`python -m symbackprop` is the same as the `symbackprop` command."""

from .cli import main

raise SystemExit(main())
