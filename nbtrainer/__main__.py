"""``python -m nbtrainer`` is the ``nbtrainer`` command."""
import sys

from .cli import main

sys.exit(main())
