"""The README's numbers come from the files: its table of claims is what `roots summary` renders
from the committed results, and no issue numbers of this project's tracker leak into it."""

import re
import subprocess
from pathlib import Path

import pytest

from roots.results import summary

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_measured_table_is_the_one_the_results_give():
    fresh = summary.markdown(ROOT / "results")
    assert summary.readme_block(ROOT / "README.md") == fresh, (
        "README.md's measured table differs from the results: run `roots summary --write README.md`"
    )


def test_the_summary_names_each_budget_and_device(tmp_path):
    claims = summary.claims(ROOT / "results")
    trained = claims[claims["claim"].str.contains("accuracy|equal k|covariance")]
    assert len(trained) == 3 and trained["measured"].str.match(r"recipe \w+: \d+ epochs x [\d,]+ images of").all()
    assert trained["measured"].str.contains(r"; \d+\.\d h of training over its \d+ runs$").all()  # what it cost
    assert claims["measured"].str.len().gt(0).all() and claims["ours"].str.len().gt(0).all()
    readme = tmp_path / "README.md"
    readme.write_text("intro\n" + summary.BEGIN + "\nold\n" + summary.END + "\nrest\n")
    assert summary.write_into(readme, summary.markdown(ROOT / "results"))
    assert readme.read_text().startswith("intro\n" + summary.BEGIN) and readme.read_text().endswith("\nrest\n")
    (tmp_path / "plain.md").write_text("no block")
    with pytest.raises(summary.runs.RunsError, match="has no"):
        summary.write_into(tmp_path / "plain.md", "x")


def test_no_tracker_issue_numbers_in_the_project():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [ROOT / name for name in tracked if name.endswith((".md", ".py", ".ipynb", ".yaml", ".cfg", ".toml"))]
    assert len(texts) > 50
    for path in texts:
        found = re.findall(r"\bissues? #?\d+\b", path.read_text(), flags=re.IGNORECASE)
        assert not found, f"{path.relative_to(ROOT)}: {found}"
