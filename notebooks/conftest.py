"""The notebooks run under ``pytest --nbval-lax`` (see pyproject.toml) with their fast settings: the kernels
nbval starts inherit this environment variable; the notebooks themselves are never edited."""
import os

os.environ.setdefault("NBTRAINER_NOTEBOOK_FAST", "1")
