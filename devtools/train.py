"""Train the model only when config, domain, data or the custom NLU code changed.

The model file is named by a hash of everything that shapes it, so a re-run with nothing
changed costs a few milliseconds, and switching branches back and forth reuses models.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

from devtools import ROOT

MODELS = ROOT / "models"
INPUTS = [
    "config.yml",
    "domain/**/*.yml",
    "bot/data/**/*.yml",
    "bot/nlu/*.py",
    "bot/nlu/gazetteers/*.yml",
    "requirements.lock",
]
KEEP_MODELS = 4


def training_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    files = sorted({p for pattern in INPUTS for p in root.glob(pattern) if p.is_file()})
    for path in files:
        digest.update(str(path.relative_to(root)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_path(root: Path = ROOT) -> Path:
    return root / "models" / f"oss-{training_hash(root)}.tar.gz"


def ensure_model(quiet: bool = False) -> Path:
    target = model_path()
    if target.exists():
        if not quiet:
            print(f"train: model is up to date ({target.relative_to(ROOT)})")
        return target
    MODELS.mkdir(exist_ok=True)
    print(f"train: config, domain or data changed; training {target.name} (about 2-4 minutes)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [
        str(Path(sys.executable).parent / "rasa"), "train",
        "--config", "config.yml", "--domain", "domain", "--data", "bot/data",
        "--out", "models", "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)
    if not target.exists():
        raise SystemExit(f"train: rasa finished but {target} is missing")
    old = sorted(MODELS.glob("oss-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[KEEP_MODELS:]:
        stale.unlink()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print-path", action="store_true", help="print the model path and exit")
    args = parser.parse_args()
    if args.print_path:
        print(model_path())
        return
    ensure_model()


if __name__ == "__main__":
    main()
