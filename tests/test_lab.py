"""`make lab` in a real headless Chromium: JupyterLab serves the repository, opens a notebook, runs
every cell, and each produces its output without an error; the run writes to scratch/, not results/."""

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NOTEBOOK = "notebooks/topology.ipynb"  # reads committed runs only: seconds to run
TOKEN = "roots-browser-test"

pytest.importorskip("playwright", reason="the browser test needs the test extras (pip install -e '.[test]')")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium here: .ci/run installs Debian's chromium"),
]

CELLS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.model.cells;
  const found = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === "code") {
      found.push({count: cell.executionCount, outputs: cell.outputs.toJSON().map(output => output.output_type)});
    }
  }
  return {kernel: panel.sessionContext.session?.kernel?.status, cells: found};
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def lab():
    port = _free_port()
    arguments = f"--no-browser --port={port} --IdentityProvider.token={TOKEN} --LabApp.expose_app_in_browser=True"
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={arguments}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
            break
        except OSError:
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.monotonic() - started < 180, "JupyterLab did not start in 3 minutes"
            time.sleep(0.5)
    yield url
    subprocess.run(["pkill", "-TERM", "-g", str(server.pid)], check=False)
    server.wait(timeout=60)


def test_a_notebook_runs_in_jupyterlab_in_a_real_browser(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    results = sorted((ROOT / "results").rglob("*"))
    stamps = {path: path.stat().st_mtime_ns for path in results if path.is_file()}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{lab}/lab/tree/{NOTEBOOK}?token={TOKEN}")
            page.wait_for_function(
                "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
                timeout=180_000,
            )
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(
                f"() => {{ const state = ({CELLS})(); return state.kernel === 'idle' && "
                "state.cells.every(cell => cell.count !== null); }",
                timeout=300_000,
            )
            state = page.evaluate(CELLS)
            page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)
        finally:
            browser.close()
    assert state["cells"] and all(cell["count"] for cell in state["cells"])
    assert not any("error" in cell["outputs"] for cell in state["cells"]), state
    assert sum(1 for cell in state["cells"] if cell["outputs"]) >= 5  # runs, tables, Fig. 5, the verdict, metrics
    assert any("display_data" in cell["outputs"] for cell in state["cells"])  # the figure was drawn
    assert (ROOT / "scratch" / "topology" / "figures" / "fig5_topologies.png").is_file()  # the notebook's default
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps  # the pipeline's outputs untouched
