"""`roots tidy-notebook`: an executed notebook without what varies from run to run or means
nothing to a reader afterwards (clocks, progress bars and the blank lines they leave)."""

import json

from roots.pipeline import notebooks


def _stream(name, text):
    return {"output_type": "stream", "name": name, "text": text}


def test_progress_bars_and_their_residue_go_warnings_and_results_stay(tmp_path):
    outputs = [
        _stream("stderr", ["moments:  40%|████      | 2/5 [00:01<00:01,  2.0it/s]"]),
        _stream("stderr", ["\r                                                           "]),
        _stream("stderr", "\r"),
        _stream("stderr", ["UserWarning: only 10 images\n"]),
        _stream("stdout", ["top-1 49.2%\n"]),
    ]
    cell = {"cell_type": "code", "id": "a", "metadata": {"execution": {"iopub.status.busy": "now"}}, "outputs": outputs}
    path = tmp_path / "run.ipynb"
    path.write_text(json.dumps({"cells": [cell], "metadata": {"papermill": {"start_time": "now", "duration": 3}}}))
    notebooks.tidy(path)
    tidied = json.loads(path.read_text())
    kept = tidied["cells"][0]["outputs"]
    assert [(output["name"], "".join(output["text"])) for output in kept] == [
        ("stderr", "UserWarning: only 10 images\n"),
        ("stdout", "top-1 49.2%\n"),
    ]
    assert tidied["metadata"]["papermill"] == {} and "execution" not in tidied["cells"][0]["metadata"]
