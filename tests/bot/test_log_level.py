"""Loading our model must not silence the Rasa process's INFO logs."""

from __future__ import annotations

import subprocess
import sys

from devtools import ROOT

# What LogisticRegressionClassifier.load does when Rasa loads our model: `import skops.io`.
PROBE = """
import logging, sys
logging.getLogger().setLevel(logging.INFO)
if sys.argv[1] == "ours":
    import bot.nlu.components  # what Rasa imports before it loads our components
import skops.io
print(logging.getLevelName(logging.getLogger().level))
"""


def level_after(first: str) -> str:
    run = subprocess.run([sys.executable, "-c", PROBE, first], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
                         timeout=300, check=True)
    return run.stdout.strip().splitlines()[-1]


def test_the_root_log_level_survives_loading_the_classifier() -> None:
    assert level_after("ours") == "INFO"


def test_without_our_components_first_the_import_silences_info() -> None:
    """numpy.distutils sets the root logger to WARNING on import (setuptools' log is the root)."""
    assert level_after("bare") == "WARNING"
