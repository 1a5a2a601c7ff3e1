"""The import rules `make lint` checks on the operator's package and on bench/: no import cycle between
a package's modules (imports under TYPE_CHECKING and inside functions count: they are cycles a reader
must untangle); no module importing a sibling by its bare name (`from report_file import …`, as a
script beside it would: the cycle check cannot see such an import); the layers, api <- contract <-
control, media <- cli, the command lines (`streamops.api` imports nothing else of the package,
`streamops.contract` only api, `streamops.kube` only api; neither plane imports the command lines nor
the other plane, and the libraries both use (egress, storage, redaction) import neither plane; the
contract and the workers import none of the custom resources' modules a worker does not carry, the
LiveStream's spec and status and the kinds (CUSTOM_RESOURCES); the command lines' verbs reach the API
through `streamops.kube`, not the operator's runtime, except the verbs that run or describe the
operator itself: `streamops operator`, `crds`, `rbac`); no `control/<kind>/` folder importing another
kind's folder (what kinds share lives in the common folders `control/runtime/`, `control/workers/`,
`control/storage/` and `control/shared/`, which import no kind); and no `media/<worker>/` folder
importing another worker's folder (what the recorder and the clipper share about videos lives in
`media/videos/`, which imports no worker; the rest in `media/`'s own modules).

No cycle between folders either: the common control folders are ordered, lowest first,
shared <- workers <- runtime <- storage, and each imports only those below it. `shared` is the
vocabulary every part uses (the operator's settings, conditions, quality sets, the tenancy
policy); `workers` the worker Pods, their addresses, restarts and telemetry client; `runtime` the
engine that runs the kinds (object loops, indexes, the operator's state, the loop tick); `storage`
what the kinds that store videos share (their storage, claim, recorder Pod, retention), which runs
on the engine. Any cycle between the top folders of `control/` or `media/` is named too.

And purity, by module boundary as CloudNativePG's `pkg/specs` (builders that cannot reach the
client): a kind's `specs/` modules, its `plan`, `status`, `decide` (module or folder) and
`observation` (what observe read, as data) never reach the Kubernetes API: they import neither its
client (`streamops.kube.client`), its reading half (`streamops.kube.reads`, the type observe
takes) nor the operator's state that holds one (`streamops.control.runtime.state`), directly or
through any module of the package they import (the transitive closure; imports under
TYPE_CHECKING and inside functions count: a pure function typed with the client could call it).
What reads lives in `observe` and the `*_reads` modules, which take `KubeReads` and never import
the client itself (a write there is then a mypy error); what writes in `apply` and the actuators.

Usage: `python -m devtools.import_rules operator/streamops` (or `bench`). Map: docs/design/README.md,
"Package layout".
"""

from __future__ import annotations

import argparse
import ast
import collections
import functools
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The control folders every kind may use, which import no kind, lowest first: each imports only
# those before it (what the kinds share; worker Pods; the engine; what the video-storing kinds share).
COMMON_ORDER = ("shared", "workers", "runtime", "storage")
COMMON = frozenset(COMMON_ORDER)
# The parts whose top folders must not import each other round in a circle.
FOLDER_PARTS = ("control", "media")
# The pure modules of a kind, by name: its builders, its plan, its status and decide functions,
# what its observe read (as data); and the folders all of whose modules are pure.
PURE_MODULES = frozenset({"plan", "status", "decide", "observation"})
PURE_FOLDERS = frozenset({"specs", "decide"})
# What reaches the Kubernetes API: its client, its reading half, and the operator's state, which holds one.
API_REACHING = ("kube.client", "kube.reads", "control.runtime.state")
# The reading modules of a kind (its observe, the `*_reads` modules beside a pure one) take the
# client's reading half, kube.reads' KubeReads, so that mypy refuses a write there: never the client.
READING_CLIENT = "kube.client"
# The media folders every worker may use, which import no worker: what the video workers share.
MEDIA_COMMON = frozenset({"videos"})
# The worker modules another worker may import, by path under media/: the overlay renderer's files
# that the ingest writes and reads beside it in the same Pod (which overlays are on, the renderer's
# reports), kept with the renderer that defines them.
WORKER_FILES = ("overlay.switch", "overlay.reports")

# The layers, by module path under the package (a prefix names a module and everything below it).
# What a part may import of the package, when that is all it may import:
ONLY: dict[str, tuple[str, ...]] = {
    "api": ("api",),  # the custom resources' models: the lowest layer
    "contract": ("api", "contract"),  # the operator <-> worker contract
    "kube": ("api", "kube"),  # the Kubernetes client and object names, for the operator and the CLIs
}
COMMAND_LINES = ("cli", "__main__")
# The verbs that are the operator (its process, its manifests): the only command line code that
# imports its runtime. Every other verb, the kubectl plugin's all, is a client of the API.
OPERATOR_VERBS = ("cli.operator", "cli.manifests")
RUNTIME = ("control.runtime", "control.workers", "control.storage", "control.shared")
# The custom resources' modules no worker needs: a LiveStream's spec and status (what the ingest's
# contract carries of it is api.livestream_media), the kinds, the CRD generator, and the kinds no
# worker hears of. Each costs a worker's every start its models' classes (docs/design/lean-workers.md).
CUSTOM_RESOURCES = ("api.livestream", "api.kinds", "api.crd", "api.broadcast", "api.webhook", "api.quality_set")


@dataclass(frozen=True)
class Never:
    """`sources` (but not `except_sources`) never import `targets`, for the reason `why`."""

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    why: str
    except_sources: tuple[str, ...] = ()


# What a part never imports, and why.
NEVER: tuple[Never, ...] = (
    Never(("control", "media", "egress", "storage", "redaction"), COMMAND_LINES, "the planes import no command line"),
    Never(("control",), ("media",), "the control plane meets the data plane only in the contract"),
    Never(("media",), ("control",), "the data plane meets the control plane only in the contract"),
    Never(("egress", "storage", "redaction"), ("control", "media"), "a library of both planes imports neither"),
    Never(("cli",), RUNTIME, "a command line reaches the API through kube, not the runtime", OPERATOR_VERBS),
    Never(
        ("contract", "media"),
        CUSTOM_RESOURCES,
        "a worker imports what its contract carries (api.livestream_media, kube_model, uri_rules…), "
        "not the custom resources' specs, statuses and kinds",
    ),
)


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module of the same package
    line: int


def module_names(root: Path) -> dict[str, Path]:
    """Every module of the package at `root`, by dotted name (a package by its own name)."""
    names: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _resolved(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of `name` that is a module of the package (`a.b.func` -> `a.b`)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@dataclass(frozen=True)
class _ImportStatement:
    """An `import a.b` (level None) or `from [.]m import x` statement, as the rules read it."""

    line: int
    names: tuple[str, ...]  # the aliases' names
    module: str | None = None  # `from m import …`: m (None for `from . import x`)
    level: int | None = None  # `from …`: its dots (0: absolute); None for `import …`


_BODIES = (ast.stmt, ast.excepthandler, ast.match_case)


@functools.cache
def _import_statements(text: str) -> tuple[_ImportStatement, ...]:
    """Every import statement of a module's source, wherever it stands (a function, a class, an if,
    a try). Only statement bodies are walked: an import is a statement, never inside an expression,
    and expressions are most of a module's nodes (a full ast.walk of the operator's package took ≈5
    of the rules' ≈7 CPU-s). Cached by the source: the tests check copies of the package that differ
    from it by one file."""
    found: list[_ImportStatement] = []
    pending: collections.deque[ast.AST] = collections.deque([ast.parse(text)])
    while pending:  # breadth first, as ast.walk: the same order of imports
        node = pending.popleft()
        if isinstance(node, ast.Import):
            found.append(_ImportStatement(node.lineno, tuple(alias.name for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            found.append(_ImportStatement(node.lineno, names, node.module, node.level))
        for _, value in ast.iter_fields(node):
            if isinstance(value, list):
                pending.extend(child for child in value if isinstance(child, _BODIES))
    return tuple(found)


def _imports_of(path: Path) -> tuple[_ImportStatement, ...]:
    try:
        return _import_statements(path.read_text())
    except SyntaxError as error:  # named by its file (the cache is by source alone)
        error.filename = str(path)
        raise


def _base(module: str, path: Path, statement: _ImportStatement) -> str:
    """The absolute module a `from … import` names, relative imports resolved."""
    if not statement.level:
        return statement.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - (statement.level - 1)]
    return ".".join([*package, statement.module] if statement.module else package)


def package_imports(root: Path) -> list[Import]:
    """Every import between modules of the package, wherever it stands in a module."""
    modules = module_names(root)
    found: list[Import] = []
    for module, path in modules.items():
        for statement in _imports_of(path):
            if statement.level is None:
                targets = list(statement.names)
            else:
                base = _base(module, path, statement)
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod.
                targets = [f"{base}.{name}" for name in statement.names]
            for name in targets:
                target = _resolved(name, modules)
                if target is not None and target != module:
                    found.append(Import(module, target, statement.line))
    return found


def bare_imports(root: Path) -> list[Import]:
    """Imports of a top-level module of the package by its bare name (`import playback` in bench/):
    they work only with the package's folder on sys.path, outside the package's own names, so the
    cycle check would not see them. A standard library name (bench/operator.py vs `operator`) is
    the library's."""
    modules = module_names(root)
    bare = {name.split(".", 1)[1] for name in modules if name.count(".") == 1} - set(sys.stdlib_module_names)
    found: list[Import] = []
    for module, path in modules.items():
        for statement in _imports_of(path):
            if statement.level is None:
                names = list(statement.names)
            elif not statement.level and statement.module:
                names = [statement.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in bare:
                    found.append(Import(module, name, statement.line))
    return found


def cycles(imports: Iterable[Import]) -> list[list[str]]:
    """The import cycles: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for edge in imports:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _subfolder(module: str, parent: str) -> str | None:
    """`livestream` for `<pkg>.control.livestream.builders` under `<pkg>.control`; None outside a
    subfolder of `parent` (its own modules, `<pkg>.media.ffmpeg`, are in none)."""
    if not module.startswith(parent + "."):
        return None
    parts = module[len(parent) + 1 :].split(".")
    return parts[0] if len(parts) > 1 else None


def kind_crossings(imports: Iterable[Import], package: str) -> list[Import]:
    """Imports from one `control/<kind>/` folder into another's, or from a common folder into a kind's."""
    control = f"{package}.control"
    crossing: list[Import] = []
    for edge in imports:
        source, target = _subfolder(edge.source, control), _subfolder(edge.target, control)
        if source is not None and target is not None and target not in COMMON and source != target:
            crossing.append(edge)
    return crossing


def worker_crossings(imports: Iterable[Import], package: str) -> list[Import]:
    """Imports from one `media/<worker>/` folder into another's (WORKER_FILES aside), or from a common
    media folder into a worker's."""
    media = f"{package}.media"
    crossing: list[Import] = []
    for edge in imports:
        source, target = _subfolder(edge.source, media), _subfolder(edge.target, media)
        if source is None or target is None or target in MEDIA_COMMON or source == target:
            continue
        if not _under(edge.target.removeprefix(media + "."), WORKER_FILES):
            crossing.append(edge)
    return crossing


def _under(module: str, prefixes: Iterable[str]) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def layer_crossings(imports: Iterable[Import], package: str) -> list[tuple[Import, str]]:
    """Imports that go against the layers (ONLY, NEVER), each with the rule it breaks."""
    crossing: list[tuple[Import, str]] = []
    for edge in imports:
        source, target = (name.removeprefix(package + ".") for name in (edge.source, edge.target))
        for part, allowed in ONLY.items():
            if _under(source, (part,)) and not _under(target, allowed):
                crossing.append((edge, f"{part} imports only {', '.join(allowed)}"))
        for rule in NEVER:
            exempt = _under(source, rule.except_sources)
            if _under(source, rule.sources) and not exempt and _under(target, rule.targets):
                crossing.append((edge, rule.why))
    return crossing


def common_order_crossings(imports: Iterable[Import], package: str) -> list[Import]:
    """Imports from a common control folder into one after it in COMMON_ORDER (a folder cycle waiting
    for its other half)."""
    control = f"{package}.control"
    crossing: list[Import] = []
    for edge in imports:
        source, target = _subfolder(edge.source, control), _subfolder(edge.target, control)
        if source in COMMON and target in COMMON and COMMON_ORDER.index(target) > COMMON_ORDER.index(source):
            crossing.append(edge)
    return crossing


def folder_cycles(imports: Iterable[Import], package: str) -> list[list[str]]:
    """Cycles between the top folders of a part (`control/runtime` -> `control/workers` -> back), a
    folder's own subfolders (a kind's specs/) counted as the folder."""
    edges: list[Import] = []
    for edge in imports:
        for part in FOLDER_PARTS:
            parent = f"{package}.{part}"
            source, target = _subfolder(edge.source, parent), _subfolder(edge.target, parent)
            if source is not None and target is not None and source != target:
                edges.append(Import(f"{part}/{source}", f"{part}/{target}", edge.line))
    return cycles(edges)


def pure(module: str, package: str) -> bool:
    """A kind's pure module: under control/<folder>/, named in PURE_MODULES or in a PURE_FOLDERS folder."""
    parts = module.removeprefix(f"{package}.control.").split(".") if module.startswith(f"{package}.control.") else []
    inner = parts[1:]  # below control/<folder>/
    return bool(inner) and (inner[-1] in PURE_MODULES or any(name in PURE_FOLDERS for name in inner))


def api_paths(imports: Iterable[Import], package: str) -> dict[str, list[str]]:
    """Every module of the package that reaches the API, with one shortest chain of imports to it
    (the API module last)."""
    importers: dict[str, set[str]] = {}
    for edge in imports:
        importers.setdefault(edge.target, set()).add(edge.source)
    paths = {name: [name] for name in (f"{package}.{module}" for module in API_REACHING)}
    frontier = sorted(paths)
    while frontier:
        following: list[str] = []
        for module in frontier:
            for importer in sorted(importers.get(module, ())):
                if importer not in paths:
                    paths[importer] = [importer, *paths[module]]
                    following.append(importer)
        frontier = following
    return paths


def impure_imports(imports: Iterable[Import], package: str) -> list[tuple[Import, list[str]]]:
    """Imports by a pure module of a module that reaches the API, each with its chain to the API."""
    edges = list(imports)
    paths = api_paths(edges, package)
    return [(edge, paths[edge.target]) for edge in edges if pure(edge.source, package) and edge.target in paths]


def reading(module: str, package: str) -> bool:
    """A reading module: `observe` or `*_reads` under control/<folder>/."""
    if not module.startswith(f"{package}.control."):
        return False
    parts = module.split(".")[2:]
    return len(parts) > 1 and (parts[-1] == "observe" or parts[-1].endswith("_reads"))


def client_reads(imports: Iterable[Import], package: str) -> list[Import]:
    """Imports of the whole client (a writer) by a reading module."""
    client = f"{package}.{READING_CLIENT}"
    return [edge for edge in imports if reading(edge.source, package) and edge.target == client]


def problems(root: Path) -> list[str]:
    """What breaks the rules, one readable line each (empty when the package keeps them)."""
    imports = package_imports(root)
    lines = [f"import cycle: {' <-> '.join(component)}" for component in cycles(imports)]
    for edge in bare_imports(root):
        fix = f"import {root.name}.{edge.target}"
        lines.append(f"{edge.source}:{edge.line} imports {edge.target} by its bare name: {fix}")
    for edge, why in sorted(layer_crossings(imports, root.name), key=lambda c: (c[0].source, c[0].line, c[1])):
        lines.append(f"{edge.source}:{edge.line} imports {edge.target}: {why}")
    for edge in sorted(kind_crossings(imports, root.name), key=lambda e: (e.source, e.line)):
        lines.append(f"{edge.source}:{edge.line} imports {edge.target}: a kind folder imports another kind's folder")
    for edge in sorted(common_order_crossings(imports, root.name), key=lambda e: (e.source, e.line)):
        order = " <- ".join(COMMON_ORDER)
        lines.append(
            f"{edge.source}:{edge.line} imports {edge.target}: a common control folder imports only "
            f"those below it ({order})"
        )
    lines += [f"folder cycle: {' <-> '.join(component)}" for component in folder_cycles(imports, root.name)]
    short = len(root.name) + 1
    for edge, chain in sorted(impure_imports(imports, root.name), key=lambda c: (c[0].source, c[0].line)):
        reach = " -> ".join(name[short:] for name in chain)
        lines.append(
            f"{edge.source}:{edge.line} imports {edge.target}: a pure module (specs, plan, status, decide, "
            f"observation) reaches the Kubernetes API ({reach})"
        )
    for edge in sorted(client_reads(imports, root.name), key=lambda e: (e.source, e.line)):
        lines.append(
            f"{edge.source}:{edge.line} imports {edge.target}: observe and the *_reads modules read through "
            "kube.reads (KubeReads), never the client that writes"
        )
    for edge in sorted(worker_crossings(imports, root.name), key=lambda e: (e.source, e.line)):
        lines.append(
            f"{edge.source}:{edge.line} imports {edge.target}: a worker folder imports another worker's folder "
            "(what they share lives in media/videos/ or media/)"
        )
    return list(dict.fromkeys(lines))  # `from m import a, b` is one import of m


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", type=Path, help="the package's folder, e.g. operator/streamops or bench")
    args = parser.parse_args(argv)
    found = problems(args.package.resolve())
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        kept = (
            "no import cycle, no bare sibling import, its layers kept, no kind or worker folder importing another, "
            "no folder cycle, no pure module reaching the Kubernetes API and no reading module importing its client"
        )
        print(f"import rules: {args.package} has {kept}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
