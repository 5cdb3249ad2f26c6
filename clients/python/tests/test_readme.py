from __future__ import annotations

import re
from pathlib import Path

from conftest import python
from fake_server import TOKEN, FakeServer


def test_readme_training_loop_logs_a_run_and_prints_its_url(server: FakeServer) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", readme, re.S)[0].replace('"my-team"', '"team-a"')
    proc = python(snippet, env={"ISOFLOP_URL": server.url, "ISOFLOP_TOKEN": TOKEN})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    run = server.store.only_run()
    assert out.strip() == f"{server.url}/runs/{run['id']}/"
    assert run["status"] == "finished" and run["final_loss"] < 0.05
    server.store.assert_exactly_once(run["id"], range(500), ["train/loss", "lr", "w", "b"])
