"""`ovconvert check`: run a set of recipes to validated IRs, as a CI job would, and compare them with a
stored baseline.

Each recipe runs as its own `ovconvert run` process (so a crash or a hung TensorFlow takes only that
recipe down, and `-j N` runs N at once); its report.json gives the numbers. A recipe fails when its run
fails or its validation fails, and regresses when, against the baseline, its agreement drops, its max
difference grows past the margin, its IR size changes past the margin, or its conversion slows past
the margin.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ovconvert.errors import EXIT_TOOL_ERROR, EXIT_VALIDATION_FAILED, UserError
from ovconvert.recipes.loader import RECIPES_DIR, all_recipe_paths, load_recipe

AGREEMENT_KEYS = ("top1_agreement", "string_match", "detection_match")


@dataclass(frozen=True)
class Margins:
    agreement: float = 0.0  # allowed drop in agreement (0.0: none)
    max_diff_factor: float = 10.0  # allowed growth of the max difference, × baseline …
    max_diff_floor: float = 1e-5  # … or up to this absolute value, whichever is larger
    size: float = 0.02  # allowed relative change of the IR size
    time: float = 1.0  # allowed relative growth of the conversion time …
    time_floor_s: float = 5.0  # … ignored below this many seconds of growth (the machine is noisy)
    # Allowed drop of the IR's speed-up over the framework (0.25: a quarter), latency and throughput alike.
    # Speed-ups are ratios measured in one process, so they travel between runs better than times do.
    speedup: float = 0.25


@dataclass
class CheckResult:
    recipe: str
    path: str
    status: str  # passed | failed | error | regressed
    exit_code: int
    seconds: float
    metric: str = ""
    agreement: float | None = None
    max_abs_diff: float | None = None
    ir_bytes: int | None = None
    convert_seconds: float | None = None
    message: str = ""
    regressions: list = field(default_factory=list)
    # The deployment precisions judged besides f32 ("bf16 default: 0.885"), and their warnings.
    precisions: str = ""
    precision_warnings: list = field(default_factory=list)
    environment: dict = field(default_factory=dict)
    # With `check --bench`: the recommended IR configuration's speed-up over the framework.
    latency_speedup: float | None = None
    throughput_speedup: float | None = None

    def baseline_entry(self) -> dict:
        return {"agreement": self.agreement, "max_abs_diff": self.max_abs_diff, "ir_bytes": self.ir_bytes,
                "convert_seconds": self.convert_seconds, "latency_speedup": self.latency_speedup,
                "throughput_speedup": self.throughput_speedup, "seconds": round(self.seconds, 1)}


# ---------------------------------------------------------------------------------------------- selection

def runs_offline(path: Path) -> bool:
    """A recipe needs no network when its source is a local path that exists, or built by a builder
    that fetches nothing (the ODAPI twins' builder fetches the Object Detection API from PyPI once, and
    runs for minutes per twin: they are checked when named, e.g. `ovconvert check '*_twin'`)."""
    recipe = load_recipe(str(path))
    if recipe.source.builder:
        from ovconvert import families

        builder = getattr(families.get(recipe.family), "SOURCE_BUILDERS", {}).get(recipe.source.builder)
        return not getattr(builder, "fetches", None)
    if recipe.source.path:
        return (path.parent / recipe.source.path).exists() or Path(recipe.source.path).exists()
    return False


def changed_files(ref: str, repo: Path) -> set[str]:
    try:
        listed = subprocess.run(["git", "diff", "--name-only", ref, "--"], cwd=repo, capture_output=True,
                                text=True, check=True).stdout
        untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=repo,
                                   capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise UserError(f"--changed-since {ref}: git cannot compare ({detail.strip()[:200]}); "
                        "give a ref that exists in this clone (fetch it first)") from None
    return {line.strip() for line in (listed + untracked).splitlines() if line.strip()}


def _depends_on(path: Path, changed: set[str], repo: Path) -> bool:
    """The recipe file, its family's code, or files beside the recipe it names (samples, a local
    source) changed."""
    recipe = load_recipe(str(path))
    if repo not in path.resolve().parents:
        return True  # a recipe kept outside the repository: git cannot say what it depends on
    relative = path.resolve().relative_to(repo).as_posix()
    from ovconvert import families

    watched = [relative, f"ovconvert/families/{recipe.family}.py",
               *getattr(families.get(recipe.family), "CODE_PATHS", ())]
    recipe_dir = path.resolve().parent.relative_to(repo).as_posix()
    for item in (*recipe.validate.images, recipe.source.path or ""):
        if "${recipe_dir}/" in item:
            watched.append(recipe_dir + "/" + item.split("${recipe_dir}/", 1)[1].split("/")[0])
    return any(name == w or name.startswith(w.rstrip("/") + "/") for name in changed for w in watched)


def select(patterns: list[str], changed_since: str | None = None, repo: Path | None = None) -> list[Path]:
    """Recipes by name, family or glob (on the name or the path under recipes/); none given: every
    recipe that runs offline. With `changed_since`, only those whose inputs changed since that git ref."""
    every = all_recipe_paths()
    if patterns:
        chosen = []
        for pattern in patterns:
            given = Path(pattern)
            if given.suffix in (".yaml", ".yml") and given.is_file():  # a recipe file anywhere: the user's own
                matched = [given.resolve()]
            else:
                matched = [p for p in every if _matches(p, pattern)]
            if not matched:
                raise UserError(f"no recipe matches {pattern!r}; see `ovconvert list`")
            chosen += [p for p in matched if p not in chosen]
    else:
        chosen = [p for p in every if runs_offline(p)]
    if changed_since:
        repo = repo or RECIPES_DIR.parent
        changed = changed_files(changed_since, repo)
        chosen = [p for p in chosen if _depends_on(p, changed, repo.resolve())]
    return chosen


@dataclass(frozen=True)
class Conversion:
    """One run of a check: a recipe's main conversion (variant None) or one of its variants."""

    path: Path
    variant: str | None = None

    @property
    def name(self) -> str:
        return self.path.stem + (f"@{self.variant}" if self.variant else "")

    def run_arguments(self) -> list[str]:
        return [f"{self.path}@{self.variant}"] if self.variant else ["--no-variants", str(self.path)]


def conversions(paths: list[Path]) -> list[Conversion]:
    """Each selected recipe, followed by its variants (a quantized model's .pb twin, for instance)."""
    return [item for path in paths
            for item in [Conversion(path)] + [Conversion(path, v) for v in load_recipe(str(path)).variants]]


def _matches(path: Path, pattern: str) -> bool:
    relative = path.relative_to(RECIPES_DIR).with_suffix("").as_posix()
    family = relative.split("/")[0] if "/" in relative else None
    return pattern in (path.stem, relative, family) or fnmatch.fnmatch(path.stem, pattern) \
        or fnmatch.fnmatch(relative, pattern) or Path(pattern).resolve() == path.resolve()


# ---------------------------------------------------------------------------------------------- running

def run_one(conversion: Conversion, out_dir: Path, cache_dir: Path, timeout_s: int,
            run_options: tuple[str, ...] = ()) -> CheckResult:
    """One conversion as its own `ovconvert run` process; `run_options` are passed on (--device, …)."""
    name, path = conversion.name, conversion.path
    run_dir = out_dir / name
    command = [sys.executable, "-m", "ovconvert", "run", *conversion.run_arguments(), "-o", str(run_dir),
               "--cache-dir", str(cache_dir), *run_options]
    started = time.monotonic()
    try:
        process = _run_stopping_cleanly(command, timeout_s)
    except subprocess.TimeoutExpired:
        return CheckResult(name, str(path), "error", EXIT_TOOL_ERROR, time.monotonic() - started,
                           message=f"timed out after {timeout_s} s")
    seconds = time.monotonic() - started
    (out_dir / f"{name}.log").write_text(process.stdout + process.stderr, encoding="utf-8")
    report_path = run_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    validation = report.get("validation") or {}
    metrics = validation.get("metrics", {})
    errors = [line for line in process.stderr.splitlines() if line.startswith("ovconvert: error:")]
    status = "passed" if process.returncode == 0 else \
        "failed" if process.returncode == EXIT_VALIDATION_FAILED else "error"
    ir_files = report.get("ir") or {}
    return CheckResult(
        name, str(path), status, process.returncode, seconds, metric=validation.get("metric", ""),
        agreement=next((float(metrics[k]) for k in AGREEMENT_KEYS if k in metrics), None),
        max_abs_diff=metrics.get("max_abs_diff"), ir_bytes=sum(ir_files.values()) if ir_files else None,
        convert_seconds=(report.get("timings") or {}).get("convert"),
        message=errors[-1][len("ovconvert: error: "):] if errors else "",
        precisions=precision_summary(report.get("precisions") or [], validation.get("metric", "")),
        precision_warnings=list(report.get("precision_warnings") or []),
        environment=report.get("environment") or {},
        latency_speedup=_speedup(report, "latency"), throughput_speedup=_speedup(report, "throughput"))


def _speedup(report: dict, goal: str) -> float | None:
    best = ((report.get("bench") or {}).get("recommendation") or {}).get(goal) or {}
    return best.get("speedup")


def precision_summary(rows: list[dict], metric: str) -> str:
    """The judged deployment precisions in a few words: `bf16 (default) 0.885 changes answers`; `-` when
    the device runs only f32."""
    from ovconvert.precision import table_keys

    key = table_keys(metric)[0]  # the same number the precision table shows
    parts = []
    for row in rows:
        if row.get("reference") or row.get("status") == "same as f32":
            continue
        value = row.get("metrics", {}).get(key)
        number = f" {value:.3g}" if isinstance(value, float) else ""
        verdict = "!" if row.get("status") == "changes answers" else "ok"
        parts.append(f"{row['precision']}{' (default)' if row.get('default') else ''}{number} {verdict}")
    return ", ".join(parts) or "-"


def _run_stopping_cleanly(command: list[str], timeout_s: int) -> subprocess.CompletedProcess:
    """Run one `ovconvert run` in its own process group. On a timeout (or when check itself is stopped)
    it gets SIGTERM first, so that it kills its mo and removes what it had half-written, then, after a
    grace period, the whole group is killed: nothing it started outlives the check."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, CI="true"), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    finally:
        if process.poll() is None:
            _stop(process)


def _stop(process: subprocess.Popen, grace_s: float = 20.0) -> None:
    import signal

    process.terminate()
    try:
        process.communicate(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait()


def compare(result: CheckResult, baseline: dict, margins: Margins) -> CheckResult:
    entry = baseline.get(result.recipe)
    if result.status != "passed" or not entry:
        return result
    problems = []
    if entry.get("agreement") is not None and result.agreement is not None \
            and result.agreement < entry["agreement"] - margins.agreement:
        problems.append(f"agreement {result.agreement:.4g} < baseline {entry['agreement']:.4g}")
    if entry.get("max_abs_diff") is not None and result.max_abs_diff is not None:
        allowed = max(entry["max_abs_diff"] * margins.max_diff_factor, margins.max_diff_floor)
        if result.max_abs_diff > allowed:
            problems.append(f"max difference {result.max_abs_diff:.3g} > {allowed:.3g} allowed "
                            f"(baseline {entry['max_abs_diff']:.3g})")
    if entry.get("ir_bytes") and result.ir_bytes is not None \
            and abs(result.ir_bytes - entry["ir_bytes"]) > margins.size * entry["ir_bytes"]:
        problems.append(f"IR size {result.ir_bytes} bytes vs baseline {entry['ir_bytes']} "
                        f"(more than {margins.size:.0%} apart)")
    if entry.get("convert_seconds") and result.convert_seconds is not None:
        growth = result.convert_seconds - entry["convert_seconds"]
        if growth > margins.time_floor_s and growth > margins.time * entry["convert_seconds"]:
            problems.append(f"conversion took {result.convert_seconds:.1f} s vs baseline "
                            f"{entry['convert_seconds']:.1f} s")
    for goal in ("latency", "throughput"):  # a slower IR is a regression too
        before, now = entry.get(f"{goal}_speedup"), getattr(result, f"{goal}_speedup")
        if before and now is not None and now < before * (1 - margins.speedup):
            problems.append(f"{goal} speed-up {now:.2f}× < baseline {before:.2f}× (more than {margins.speedup:.0%} "
                            "slower)")
    if problems:
        result.status, result.exit_code, result.regressions = "regressed", EXIT_VALIDATION_FAILED, problems
        result.message = "; ".join(problems)
    return result


# A conversion the baseline has no time for counts as this many seconds when shards are balanced.
UNKNOWN_SECONDS = 60.0


def shard(runs: list[Conversion], index: int, count: int, baseline: dict | None = None) -> list[Conversion]:
    """The conversions of shard `index` (1-based) of `count`, for a CI matrix: longest first (by the
    seconds the baseline recorded; unknown ones count UNKNOWN_SECONDS), each to the shard with the least
    work so far, ties by name. Every runner computes the same split from the same selection and
    baseline, and together the shards cover each conversion exactly once."""
    baseline = baseline or {}

    def seconds(item: Conversion) -> float:
        entry = baseline.get(item.name) or {}
        return float(entry.get("seconds") or entry.get("convert_seconds") or UNKNOWN_SECONDS)

    loads = [0.0] * count
    assigned: list[list[Conversion]] = [[] for _ in range(count)]
    for item in sorted(runs, key=lambda r: (-seconds(r), r.name)):
        target = min(range(count), key=lambda k: (loads[k], k))
        loads[target] += seconds(item)
        assigned[target].append(item)
    chosen = {id(item) for item in assigned[index - 1]}
    return [item for item in runs if id(item) in chosen]  # in selection order


def run_all(paths: list[Path], out_dir: Path, cache_dir: Path, jobs: int = 1, timeout_s: int = 1800,
            baseline: dict | None = None, margins: Margins = Margins(), progress=None,
            run_options: tuple[str, ...] = (), runs: list[Conversion] | None = None) -> list[CheckResult]:
    """Run the recipes (and their variants), or the given `runs`, `jobs` at a time; results in order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = conversions(paths) if runs is None else runs
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_one, item, out_dir, cache_dir, timeout_s, run_options): item for item in runs}
        for future in concurrent.futures.as_completed(futures):
            result = compare(future.result(), baseline or {}, margins)
            results[futures[future]] = result
            if progress:
                progress(result)
    return [results[item] for item in runs]


# ---------------------------------------------------------------------------------------------- reports

def load_baseline(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["recipes"]
        if not isinstance(entries, dict):
            raise ValueError("'recipes' is not a mapping")
        for name, entry in entries.items():  # checked now, not after an hour of conversions
            if not isinstance(entry, dict):
                raise ValueError(f"the entry of {name!r} is not a mapping")
            for key in ("agreement", "max_abs_diff", "ir_bytes", "convert_seconds", "latency_speedup",
                        "throughput_speedup", "seconds"):
                if entry.get(key) is not None and (isinstance(entry[key], bool)
                                                   or not isinstance(entry[key], (int, float))):
                    raise ValueError(f"{name}.{key} is not a number")
        return entries
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise UserError(f"--baseline {path}: not an ovconvert baseline ({error}); "
                        "write one with --update-baseline") from None


def save_baseline(path: Path, results: list[CheckResult], previous: dict) -> None:
    entries = dict(previous)
    entries.update({r.recipe: r.baseline_entry() for r in results if r.status in ("passed", "regressed")})
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"recipes": dict(sorted(entries.items()))}, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def _cell(value, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "diff":
        return f"{value:.2g}"
    if kind == "share":
        return f"{value:.3f}"
    if kind == "bytes":
        return f"{value / 1e6:.2f} MB"
    if kind == "ratio":
        return f"{value:.2f}×"
    return f"{value:.1f} s"


def table_rows(results: list[CheckResult]) -> list[list[str]]:
    return [[r.recipe, r.status, r.metric or "-", _cell(r.agreement, "share"), _cell(r.max_abs_diff, "diff"),
             r.precisions or "-", _cell(r.ir_bytes, "bytes"), _cell(r.latency_speedup, "ratio"),
             _cell(r.throughput_speedup, "ratio"), _cell(r.seconds, "s")] for r in results]


# agreement and max diff are the f32 reference's; "deployment" the device's own precisions; the speed-ups
# are the recommended IR configuration's over the framework, at batch 1 and batch N (`--bench`; docs/ci.md).
HEADER = ["recipe", "status", "metric", "agreement", "max diff", "deployment", "IR size", "speed-up b1",
          "speed-up bN", "time"]


def environment_line(results: list[CheckResult]) -> str:
    """Where the checks ran, from the first report that says so."""
    from ovconvert.environment import describe, one_line

    found = next((r.environment for r in results if r.environment), None)
    return one_line(found or describe())


def text_table(results: list[CheckResult]) -> str:
    rows = [HEADER] + table_rows(results)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for r in results:
        if r.message:
            lines.append(f"{r.recipe}: {r.message}")
        lines += [f"{r.recipe}: warning: {warning}" for warning in r.precision_warnings]
    return "\n".join(lines)


def markdown(results: list[CheckResult]) -> str:
    passed = sum(r.status == "passed" for r in results)
    lines = [f"# ovconvert check: {passed} of {len(results)} passed", "", f"Ran on: {environment_line(results)}", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    problems = [r for r in results if r.message]
    if problems:
        lines += ["", "## Problems", ""] + [f"- **{r.recipe}** ({r.status}): {r.message}" for r in problems]
    warned = [(r, w) for r in results for w in r.precision_warnings]
    if warned:
        lines += ["", "## Precision warnings", ""] + [f"- **{r.recipe}**: {w}" for r, w in warned]
    return "\n".join(lines) + "\n"


def junit(results: list[CheckResult]) -> str:
    from xml.etree import ElementTree as ET

    suite = ET.Element("testsuite", name="ovconvert check", tests=str(len(results)),
                       failures=str(sum(r.status in ("failed", "regressed") for r in results)),
                       errors=str(sum(r.status == "error" for r in results)),
                       time=f"{sum(r.seconds for r in results):.1f}")
    suite_properties = ET.SubElement(suite, "properties")
    ET.SubElement(suite_properties, "property", name="environment", value=environment_line(results))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"ovconvert.recipes.{Path(r.path).parent.name}",
                             name=r.recipe, time=f"{r.seconds:.1f}")
        if r.status in ("failed", "regressed"):
            ET.SubElement(case, "failure", message=r.message or r.status, type=r.status).text = json.dumps(asdict(r))
        elif r.status == "error":
            ET.SubElement(case, "error", message=r.message or "error", type="error").text = json.dumps(asdict(r))
        props = ET.SubElement(case, "properties")
        for key in ("metric", "agreement", "max_abs_diff", "precisions", "ir_bytes", "convert_seconds",
                    "latency_speedup", "throughput_speedup"):
            ET.SubElement(props, "property", name=key, value=str(getattr(r, key)))
        if r.precision_warnings:
            ET.SubElement(case, "system-out").text = "\n".join(f"warning: {w}" for w in r.precision_warnings)
    return ET.tostring(ET.ElementTree(suite).getroot(), encoding="unicode", xml_declaration=True) + "\n"


def results_json(results: list[CheckResult]) -> str:
    return json.dumps({"results": [asdict(r) for r in results]}, indent=2, default=str) + "\n"


def load_results(paths: list[Path]) -> list[CheckResult]:
    """The results of several `check --json FILE` runs (the shards of a CI matrix), in file order."""
    merged = []
    for path in paths:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["results"]
            merged += [CheckResult(**entry) for entry in entries]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UserError(f"--merge {path}: not the output of `ovconvert check --json FILE` ({error})") from None
    return merged
