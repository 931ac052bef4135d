"""The runtime requirements have one owner, requirements.txt: the jobs' conda environment
(workflow/envs/nst.yaml) lists the same packages and versions, and every package that
the workflow's scripts import is in it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
# Run the workflow, not a job: the main process's venv has them, a job's env needs neither.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm"}
# pip name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch"}
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)\s*(.*)$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, str]:
    """requirements.txt: package -> version specifier."""
    out = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, spec = REQUIREMENT.match(line).groups()
            out[normalise(name)] = spec.replace(" ", "")
    return out


def conda_environment() -> dict[str, str]:
    """nst.yaml: package (by its pip name) -> version specifier, conda and pip parts."""
    env = yaml.safe_load((REPO / "workflow" / "envs" / "nst.yaml").read_text())
    pip_names = {conda: pip for pip, conda in CONDA_NAMES.items()}
    out = {}
    for entry in env["dependencies"]:
        specs = entry["pip"] if isinstance(entry, dict) else [entry]
        for spec in specs:
            name, version = REQUIREMENT.match(spec.replace(" ", "")).groups()
            if isinstance(entry, dict) or name not in ("python", "pip"):
                out[normalise(pip_names.get(name, name))] = version
    return out


def test_the_conda_environment_lists_what_requirements_txt_does():
    wanted = {k: v for k, v in requirements().items() if k not in WORKFLOW_ONLY}
    have = conda_environment()
    missing = {k: v for k, v in wanted.items() if k not in have}
    extra = sorted(set(have) - set(wanted))
    differ = {k: (wanted[k], have[k]) for k in wanted.keys() & have.keys() if wanted[k] != have[k]}
    assert not (missing or extra or differ), (
        f"workflow/envs/nst.yaml differs from requirements.txt: missing {missing}, "
        f"not in requirements.txt {extra}, other versions {differ}; requirements.txt owns "
        "the list: copy its change into nst.yaml (pip-only packages under `pip:`)"
    )


def imported_modules(folder: Path) -> set[str]:
    """Top-level modules imported by the Python files under `folder` (absolute imports)."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def test_every_package_the_scripts_import_is_a_requirement():
    own = {"nst"}  # the workflow's own package (scripts/nst)
    third_party = imported_modules(REPO / "scripts") - set(sys.stdlib_module_names) - own
    providers = packages_distributions()
    listed = set(requirements())
    unlisted = {
        module: providers.get(module)
        for module in third_party
        if not listed & {normalise(d) for d in providers.get(module, [])}
    }
    assert not unlisted, f"imported by scripts/ but not in requirements.txt: {unlisted}"
