"""Each training stage of dvc.yaml depends on the code it runs, and on no more: a change to the
pipeline logistics or the notebooks' code must not mark a trained run changed, and a change to
what trains it must."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TRAINING_STAGES = ("nin_train", "nin_cpu_train", "proxy_train")
# imported by the trainer but unable to change what it computes: package markers, error classes,
# the git commit it records
INERT = {
    "roots/__init__.py",
    "roots/errors.py",
    "roots/provenance.py",
    "roots/nn/__init__.py",
    "roots/paper/__init__.py",
    "roots/train/__init__.py",
}


@pytest.fixture(scope="module")
def trainer_modules() -> set[str]:
    """The package's files that a training job imports (in a fresh interpreter, as `roots job` runs)."""
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, roots.train.job, roots.train.loop\n"
            "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('roots') and m.__file__))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {str(Path(path).resolve().relative_to(ROOT)) for path in listed}


@pytest.fixture(scope="module")
def stages():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", TRAINING_STAGES)
def test_a_training_stage_depends_on_the_code_that_trains(stages, trainer_modules, stage):
    deps = [dep for dep in stages[stage]["do"]["deps"] if dep.startswith("roots")]
    covered = lambda path: any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)  # noqa: E731
    missing = sorted(path for path in trainer_modules - INERT if not covered(path))
    assert not missing, f"{stage} runs {missing} without depending on it"
    assert not [dep for dep in deps if dep.startswith(("roots/pipeline", "roots/results", "roots/bench"))]
