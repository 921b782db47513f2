"""The README's `model.fit` example runs as written and does what it says."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_fit_example_runs():
    blocks = _python_blocks()
    assert blocks, "README has no python example"
    namespace = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)  # noqa: S102
    history, features = namespace["history"].history, namespace["features"]
    assert set(history) == {"loss", "contrastive_accuracy", "probe_loss", "probe_accuracy"}
    assert features.shape == (8, 128)


def test_readme_first_commands_are_install_and_ci():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        commands = re.findall(r"```bash\n(.*?)```", f.read(), flags=re.S)[0]
    lines = [line for line in commands.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("pip install -e . && keras-contrastive train recipes/quickstart.yaml")
    assert lines[1] == "bash .ci/run"
