"""What supervisors declare for a run: the features they read, the models they train,
outside data; and the protocol supervisor registered without importing protocols."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import numpy as np

from sandwich.runs.config import RunConfig
from sandwich.runs.context import RunContext
from sandwich.runs.features import TaskSource
from sandwich.store import ArtifactStore
from sandwich.supervision import SUPERVISORS, ModelSource
from sandwich.tasks import Item


def test_built_in_supervisors_declare_what_they_read() -> None:
    for name, params in [("gold", {}), ("nonexpert", {"knowledge": 0.5})]:
        sup = SUPERVISORS.build(name, **params)
        assert (sup.feature_models(), sup.trained_models(), sup.data_fingerprint()) == (
            [],
            [],
            None,
        )
    probe = SUPERVISORS.build("weak-model", model="fake-weak")
    assert (probe.feature_models(), probe.trained_models()) == (["fake-weak"], [])
    tuned = SUPERVISORS.build("weak-model", model="fake-mid", method="finetune")
    assert (tuned.feature_models(), tuned.trained_models()) == ([], ["fake-mid"])


def test_a_run_feature_source_serves_its_models_a_plain_function_does_not(
    tmp_path: object,
) -> None:
    def plain(model: str, items: Sequence[Item]) -> np.ndarray:
        return np.zeros((len(items), 1))

    cfg = RunConfig.model_validate(
        {"tasks": ["arithmetic"], "weak": ["gold"], "strong": ["fake-strong"]}
    )
    ctx = RunContext(cfg, ArtifactStore(str(tmp_path)), progress=False)
    source = TaskSource(ctx.features, ctx.task(cfg.tasks[0]))
    assert isinstance(source, ModelSource) and not isinstance(plain, ModelSource)
    assert source.model("fake-weak").name == "fake-weak"


def test_the_protocol_supervisor_is_registered_without_importing_protocols() -> None:
    code = (
        "import sys\n"
        "from sandwich.supervision import SUPERVISORS\n"
        "assert 'protocol' in SUPERVISORS\n"
        "assert 'sandwich.protocols' not in sys.modules, 'protocols imported at registration'\n"
        "judge = {'backend': 'fake', 'model': 'judge'}\n"
        "sup = SUPERVISORS.build('protocol', protocol='naive', judge=judge)\n"
        "print(type(sup).__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "sandwich.protocols.supervisor"
