"""`make lint`'s import rules: no import cycle in the operator's package or in bench/, no module
importing a sibling by its bare name, the operator's layers (api <- contract <- control, media <- cli, the
command lines; kube on api), no kind folder importing another kind's, no worker folder importing
another worker's, the common control folders in their order (no folder cycle), no pure module (specs,
plan, status, decide, observation) reaching the Kubernetes API. Checked on small packages
written here (each rule breaks once), on the real ones, and on a copy of the operator's package with
a deliberate bad import."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from devtools.import_rules import main, problems
from devtools.versions import REPO

OPERATOR_PACKAGE = REPO / "operator" / "streamops"
BENCH_PACKAGE = REPO / "bench"


def package(tmp_path: Path, files: dict[str, str]) -> Path:
    """A package `pkg` laid out like streamops: control/<kind>/, the common control folders, media/
    with its worker folders and the video workers' common one."""
    root = tmp_path / "pkg"
    folders = (
        "control/livestream",
        "control/livestream/specs",
        "control/recording",
        "control/runtime",
        "control/workers",
        "control/shared",
        "control/storage",
    )
    workers = ("media/recorder", "media/clipper", "media/videos", "media/ingest", "media/overlay")
    for name in ("", "api", "contract", "kube", "cli", "egress", "control", *folders, "media", *workers):
        (root / name).mkdir(parents=True, exist_ok=True)
        (root / name / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(text)
    return root


CLEAN = {
    "control/shared/address.py": "FEED = '/feed'\n",
    "control/livestream/builders.py": "from pkg.control.shared.address import FEED\n",
    "control/recording/builders.py": "from pkg.control.shared import address\n",
    "control/recording/reasons.py": "STALLED = 'Stalled'\n",
    "control/workers/pod.py": "from pkg.control.shared.address import FEED\n",
    "control/runtime/loop.py": "from pkg.control.workers import pod\nfrom pkg.control.runtime.state import State\n",
    "control/runtime/state.py": "from pkg.kube.client import GROUP\nclass State: ...\n",
    "control/runtime/clock.py": "NOW = 0\n",
    "control/storage/claim.py": (
        "from pkg.control.runtime.clock import NOW\nfrom pkg.control.shared.address import FEED\n"
    ),
    "control/livestream/specs/pod.py": (
        "from pkg.control.shared.address import FEED\nfrom pkg.control.workers.pod import FEED\n"
    ),
    "control/livestream/observation.py": "from pkg.control.livestream.specs.pod import FEED\n",
    "control/livestream/plan.py": (
        "from pkg.control.livestream.observation import FEED\nfrom pkg.control.storage import claim\n"
    ),
    "control/livestream/observe.py": (
        "from pkg.kube.reads import KubeReads\nfrom pkg.control.livestream.observation import FEED\n"
    ),
    "control/livestream/status.py": "from pkg.control.livestream import plan\n",
    "control/handlers.py": "from pkg.control.livestream import builders\nfrom pkg.control.recording import builders\n",
    "media/worker.py": "from pkg.media.session import Session\nfrom pkg.contract.ingest import FEED_PATH\n",
    "media/session.py": "class Session: ...\n",
    "media/videos/upload.py": "from pkg.media.session import Session\nclass Uploader: ...\n",
    "media/recorder/recording.py": "from pkg.media.videos import upload\nfrom pkg.media.session import Session\n",
    "media/clipper/clipper.py": "from pkg.media.videos.upload import Uploader\n",
    "media/overlay/switch.py": "SWITCH = 'switch.json'\n",
    "media/overlay/renderer.py": "from pkg.media.overlay.switch import SWITCH\n",
    "media/ingest/worker.py": "from pkg.media.overlay.switch import SWITCH\n",
    "api/livestream.py": "from pkg.api.common import GROUP\n",
    "api/common.py": "GROUP = 'streaming.streamops.dev'\n",
    "api/livestream_media.py": "from pkg.api.common import GROUP\n",
    "contract/ingest.py": (
        "from pkg.api.common import GROUP\nfrom pkg.api.livestream_media import GROUP\nFEED_PATH = '/feed'\n"
    ),
    "kube/client.py": "from pkg.api.common import GROUP\n",
    "kube/reads.py": "class KubeReads: ...\n",
    "cli/kubectl_plugin.py": "from pkg.kube.client import GROUP\nfrom pkg.control.livestream import builders\n",
    "cli/operator.py": "from pkg.control.runtime import loop\n",
    "cli/manifests.py": "from pkg.control.runtime.loop import pod\n",
    "cli/streamops_command.py": "from pkg.cli import operator, manifests, kubectl_plugin\n",
    "egress/proxy.py": "from pkg.contract.ingest import FEED_PATH\n",
}


def test_a_package_that_keeps_the_rules_passes(tmp_path: Path) -> None:
    assert problems(package(tmp_path, CLEAN)) == []


def test_a_cycle_fails_even_under_type_checking(tmp_path: Path) -> None:
    session = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.media.worker import W\n"
    root = package(tmp_path, {**CLEAN, "media/session.py": session})
    assert problems(root) == ["import cycle: pkg.media.session <-> pkg.media.worker"]


def test_a_cycle_through_a_relative_import_in_a_function_fails(tmp_path: Path) -> None:
    root = package(tmp_path, {**CLEAN, "media/session.py": "def later():\n    from .worker import W\n"})
    assert problems(root) == ["import cycle: pkg.media.session <-> pkg.media.worker"]


def test_a_kind_importing_another_kind_fails(tmp_path: Path) -> None:
    root = package(
        tmp_path, {**CLEAN, "control/recording/builders.py": "from pkg.control.livestream.builders import FEED\n"}
    )
    assert problems(root) == [
        "pkg.control.recording.builders:1 imports pkg.control.livestream.builders: "
        "a kind folder imports another kind's folder"
    ]


@pytest.mark.parametrize("common", ["control/shared/address.py", "control/workers/pod.py", "control/runtime/loop.py"])
def test_a_common_folder_importing_a_kind_fails(tmp_path: Path, common: str) -> None:
    root = package(tmp_path, {**CLEAN, common: "import pkg.control.recording.reasons\n"})
    module = "pkg." + common.removesuffix(".py").replace("/", ".")
    crossings = [line for line in problems(root) if not line.startswith("folder cycle: ")]  # (recording imports shared)
    assert [line.split(" imports ")[0] for line in crossings] == [f"{module}:1"]


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("media/clipper/clipper.py", "from pkg.media.recorder.recording import Session\n"),
        ("media/clipper/clipper.py", "def later():\n    from pkg.media.recorder import recording\n"),
        ("media/recorder/recording.py", "import pkg.media.clipper.clipper\n"),
        ("media/videos/sidecar.py", "from pkg.media.recorder.recording import Session\n"),  # common -> worker
        ("media/ingest/worker.py", "from pkg.media.overlay.renderer import SWITCH\n"),  # not a shared file
    ],
)
def test_a_worker_importing_another_worker_fails(tmp_path: Path, module: str, source: str) -> None:
    """What the recorder and the clipper share lives in media/videos/ (which imports no worker); the
    ingest reads only the overlay renderer's files."""
    root = package(tmp_path, {**CLEAN, module: source})
    name = "pkg." + module.removesuffix(".py").replace("/", ".")
    found = [line for line in problems(root) if not line.startswith("folder cycle: ")]  # (recorder imports videos)
    assert len(found) == 1 and found[0].startswith(f"{name}:"), found
    assert found[0].endswith(
        ": a worker folder imports another worker's folder (what they share lives in media/videos/ or media/)"
    )


WORKERS_CARRY = (
    "a worker imports what its contract carries (api.livestream_media, kube_model, uri_rules…), not the custom "
    "resources' specs, statuses and kinds"
)


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("api/livestream.py", "from pkg.contract.ingest import FEED_PATH\n", "api imports only api"),
        ("api/common.py", "def later():\n    from pkg.media.session import Session\n", "api imports only api"),
        ("contract/ingest.py", "from pkg.control.runtime.loop import pod\n", "contract imports only api, contract"),
        ("contract/ingest.py", "import pkg.media.session\n", "contract imports only api, contract"),
        ("kube/client.py", "from pkg.control.workers.pod import FEED\n", "kube imports only api, kube"),
        ("control/runtime/loop.py", "from pkg.cli.kubectl_plugin import GROUP\n", "the planes import no command line"),
        ("media/session.py", "from pkg import cli\n", "the planes import no command line"),
        (
            "control/recording/reasons.py",
            "import pkg.media.session\n",
            "the control plane meets the data plane only in the contract",
        ),
        ("egress/proxy.py", "from pkg.media.session import Session\n", "a library of both planes imports neither"),
        ("contract/ingest.py", "from pkg.api.livestream import GROUP\n", WORKERS_CARRY),
        ("media/session.py", "def later():\n    from pkg.api import livestream\n", WORKERS_CARRY),
        (
            "cli/kubectl_plugin.py",
            "from pkg.control.runtime.loop import pod\n",
            "a command line reaches the API through kube, not the runtime",
        ),
        (
            "cli/streamops_command.py",
            "def later():\n    from pkg.control.workers.pod import FEED\n",
            "a command line reaches the API through kube, not the runtime",
        ),
        (
            "cli/video.py",
            "from pkg.control.shared.address import FEED\n",
            "a command line reaches the API through kube, not the runtime",
        ),
    ],
)
def test_an_import_against_the_layers_fails(tmp_path: Path, module: str, source: str, rule: str) -> None:
    root = package(tmp_path, {**CLEAN, module: source})
    name = "pkg." + module.removesuffix(".py").replace("/", ".")
    found = problems(root)
    assert found and all(line.startswith(f"{name}:") and line.endswith(f": {rule}") for line in found), found


def test_the_operator_package_keeps_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(OPERATOR_PACKAGE)]) == 0, capsys.readouterr().err


def test_a_bare_sibling_import_fails(tmp_path: Path) -> None:
    """`from session import Session`, as a script beside it would: a cycle through it goes unseen."""
    root = package(tmp_path, {**CLEAN, "runner.py": "import json\nfrom session import Session\n", "session.py": ""})
    assert problems(root) == ["pkg.runner:2 imports session by its bare name: import pkg.session"]


def test_a_standard_library_name_is_the_librarys(tmp_path: Path) -> None:
    """bench/operator.py beside a module that imports the standard library's `operator`."""
    root = package(tmp_path, {**CLEAN, "operator.py": "", "runner.py": "import operator\nfrom pkg import operator\n"})
    assert problems(root) == []


def test_two_scripts_importing_each_other_fail(tmp_path: Path) -> None:
    """What bench/playback.py and bench/playback_cluster.py did before what both use moved out."""
    root = package(
        tmp_path,
        {
            **CLEAN,
            "playback.py": "def main():\n    from pkg import playback_cluster\n",
            "playback_cluster.py": "from pkg.playback import hlsload\n",
        },
    )
    assert problems(root) == ["import cycle: pkg.playback <-> pkg.playback_cluster"]


def test_the_bench_package_keeps_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert (BENCH_PACKAGE / "__init__.py").exists(), "bench/ is a package: `python -m bench.<module>`"
    assert main([str(BENCH_PACKAGE)]) == 0, capsys.readouterr().err


def test_a_deliberate_bad_import_in_the_operator_package_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real package, copied, with one module added to the API that imports upward (the operator's
    settings): `make lint` fails on it, naming the module, the line and the rule."""
    copy = tmp_path / "streamops"
    shutil.copytree(OPERATOR_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "assets", "*.js", "*.lua"))
    (copy / "api" / "upward.py").write_text(
        '"""A deliberate bad import."""\n\nfrom streamops.control.shared.settings import OperatorSettings\n'
    )
    assert main([str(copy)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "streamops.api.upward:3 imports streamops.control.shared.settings: api imports only api"
    ]


def test_a_clipper_importing_the_recorder_in_the_operator_package_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real package, copied, with the clipper importing the recorder's state again (as it did
    before what both use moved to media/videos/): `make lint` fails on it."""
    copy = tmp_path / "streamops"
    shutil.copytree(OPERATOR_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "assets", "*.js", "*.lua"))
    (copy / "media" / "clipper" / "borrowed.py").write_text(
        '"""A deliberate bad import."""\n\nfrom streamops.media.recorder.state import RecorderState\n'
    )
    assert main([str(copy)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "streamops.media.clipper.borrowed:3 imports streamops.media.recorder.state: a worker folder imports another "
        "worker's folder (what they share lives in media/videos/ or media/)"
    ]


PURE = "a pure module (specs, plan, status, decide, observation) reaches the Kubernetes API"


def test_a_plan_reaching_the_client_through_an_actuator_fails(tmp_path: Path) -> None:
    """What control/livestream/plan.py did before its pure part moved out of workers/children.py: the
    client is two imports away, and the line names the whole chain."""
    children = "from pkg.kube.client import GROUP\ndef owned_by(): ...\n"
    plan = "from pkg.control.workers.children import owned_by\n"
    root = package(tmp_path, {**CLEAN, "control/workers/children.py": children, "control/livestream/plan.py": plan})
    assert problems(root) == [
        f"pkg.control.livestream.plan:1 imports pkg.control.workers.children: {PURE} "
        "(control.workers.children -> kube.client)",
        # and what imports the plan (its status), with the chain through it
        f"pkg.control.livestream.status:1 imports pkg.control.livestream.plan: {PURE} "
        "(control.livestream.plan -> control.workers.children -> kube.client)",
    ]


@pytest.mark.parametrize(
    ("module", "source", "chain"),
    [
        # a builder typed with the client could call it: an import under TYPE_CHECKING counts
        (
            "control/livestream/specs/pod.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.kube.client import Api\n",
            "kube.client",
        ),
        (
            "control/livestream/status.py",
            "def later():\n    from pkg.control.runtime import loop\n",
            "control.runtime.loop -> control.runtime.state",
        ),
        (
            "control/livestream/observation.py",
            "from pkg.control.livestream.observe import GROUP\n",
            "control.livestream.observe -> kube.reads",
        ),
        ("control/recording/decide.py", "from pkg.control.runtime.state import State\n", "control.runtime.state"),
        # observe's reading half is out of reach too: a decide typed with it could read
        ("control/recording/decide.py", "from pkg.kube.reads import KubeReads\n", "kube.reads"),
        ("control/recording/decide/policies.py", "import pkg.control.runtime.state\n", "control.runtime.state"),
    ],
)
def test_a_pure_module_reaching_the_api_fails(tmp_path: Path, module: str, source: str, chain: str) -> None:
    (tmp_path / "pkg" / "control" / "recording" / "decide").mkdir(parents=True)
    root = package(tmp_path, {**CLEAN, module: source})
    name = "pkg." + module.removesuffix(".py").replace("/", ".")
    found = [line for line in problems(root) if line.startswith(f"{name}:")]
    assert len(found) == 1 and found[0].endswith(f": {PURE} ({chain})"), problems(root)


def test_a_folder_cycle_fails_without_a_module_cycle(tmp_path: Path) -> None:
    """runtime/loop.py imports workers/pod.py, and workers/pod.py a runtime module that imports no
    worker (as runtime/state.py and workers/pod_observation.py did): no module cycle, a folder one."""
    pod = "from pkg.control.shared.address import FEED\nfrom pkg.control.runtime.clock import NOW\n"
    root = package(tmp_path, {**CLEAN, "control/workers/pod.py": pod})
    assert problems(root) == [
        "pkg.control.workers.pod:2 imports pkg.control.runtime.clock: a common control folder imports only "
        "those below it (shared <- workers <- runtime <- storage)",
        "folder cycle: control/runtime <-> control/workers",
    ]


def test_a_common_folder_importing_one_above_it_fails(tmp_path: Path) -> None:
    """No cycle yet, but the order says where the other half would close one: storage/ runs on the
    engine (runtime/), never the other way (as storage/retention.py imported the object loop)."""
    root = package(tmp_path, {**CLEAN, "control/runtime/clock.py": "from pkg.control.storage.claim import FEED\n"})
    found = [line for line in problems(root) if not line.startswith(("folder cycle: ", "import cycle: "))]
    assert found == [
        "pkg.control.runtime.clock:1 imports pkg.control.storage.claim: a common control folder imports only "
        "those below it (shared <- workers <- runtime <- storage)"
    ]


def test_a_plan_importing_an_actuator_in_the_operator_package_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real package, copied, with the LiveStream's plan importing the children's actuator again
    (as it did before owned_by moved to kube/naming.py): `make lint` fails on it, naming the chain."""
    copy = tmp_path / "streamops"
    shutil.copytree(OPERATOR_PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "assets", "*.js", "*.lua"))
    plan = copy / "control" / "livestream" / "plan.py"
    plan.write_text(plan.read_text() + "\nfrom streamops.control.workers.children import ensure_pod  # noqa: E402\n")
    line = len(plan.read_text().splitlines())
    assert main([str(copy)]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"streamops.control.livestream.plan:{line} imports streamops.control.workers.children: {PURE} "
        "(control.workers.children -> kube.client)"
    ]


@pytest.mark.parametrize("module", ["control/livestream/observe.py", "control/shared/quality_set_reads.py"])
def test_a_reading_module_importing_the_client_fails(tmp_path: Path, module: str) -> None:
    """observe and the *_reads modules take the reading half (kube/reads.py), so mypy refuses a write."""
    root = package(tmp_path, {**CLEAN, module: "from pkg.kube.client import GROUP\n"})
    name = "pkg." + module.removesuffix(".py").replace("/", ".")
    assert problems(root) == [
        f"{name}:1 imports pkg.kube.client: observe and the *_reads modules read through kube.reads (KubeReads), "
        "never the client that writes"
    ]
