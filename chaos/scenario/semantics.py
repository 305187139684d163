"""Checks that need the whole scenario, after the model accepted it.

Every finding is an error (no warnings): a drill either runs as written or not at all.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from chaos.faults import registry as catalogue
from chaos.scenario.messages import convert, format_loc, suggest
from chaos.scenario.model import (
    FaultStep,
    GroupStep,
    HttpCheck,
    HttpGuardrail,
    HttpProbe,
    Probe,
    PromQLGuardrail,
    PromQLProbe,
    Scenario,
    Step,
    loopback_host,
)
from chaos.scenario.promql import promql_errors
from chaos.scenario.timeline import expand, length_s
from crashlab.durations import format_duration
from crashlab.errors import CrashlabError
from crashlab.faultkinds import MAX_TTL_S
from stack import registry as runtimes

Loc = tuple[str | int, ...]
Finding = tuple[Loc, str]

#: The alert names of docs/contracts.md, used when no rule file is there to read.
KNOWN_ALERTS = (
    "ErrorBudgetBurnPage",
    "ErrorBudgetBurnTicket",
    "LatencyBudgetBurnPage",
    "LatencyBudgetBurnTicket",
    "CrashLoop",
    "PanicRate",
    "WinRateDeviation",
    "HighP99Latency",
    "DependencyCircuitOpen",
)
RULES_DIR = Path(__file__).resolve().parents[2] / "stack" / "prometheus" / "rules"
PLACEHOLDERS = ("game", "odds", "prometheus")
PROFILES = ("naive", "hardened")
_EPSILON = 1e-9


def alert_names(rules_dir: Path = RULES_DIR) -> tuple[str, ...]:
    """Alert names from ``stack/prometheus/rules/**/*.yml``; the contract's list when there are none.
    Read again only when a rule file changes."""
    files = sorted([*rules_dir.rglob("*.yml"), *rules_dir.rglob("*.yaml")])
    signature = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            continue
        signature.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _alerts_in(tuple(signature)) or KNOWN_ALERTS


@functools.lru_cache(maxsize=8)
def _alerts_in(files: tuple[tuple[str, int, int], ...]) -> tuple[str, ...]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names: list[str] = []
    for name, _mtime, _size in files:
        try:
            doc = yaml.load(Path(name).read_text(encoding="utf-8"), Loader=loader)
        except (OSError, yaml.YAMLError):
            continue
        groups = doc.get("groups", []) if isinstance(doc, dict) else []
        for group in groups if isinstance(groups, list) else []:
            rules = group.get("rules", []) if isinstance(group, dict) else []
            for rule in rules if isinstance(rules, list) else []:
                if isinstance(rule, dict) and isinstance(rule.get("alert"), str):
                    names.append(rule["alert"])
    return tuple(dict.fromkeys(names))


def _walk_steps(steps: list[Step], loc: Loc) -> Iterator[tuple[Step, Loc]]:
    for i, step in enumerate(steps):
        here = (*loc, i)
        yield step, here
        if isinstance(step, GroupStep):
            yield from _walk_steps(step.children, (*here, step.mode))


def _check_step(step: Step, loc: Loc, scenario: Scenario, runtime_known: bool) -> Iterator[Finding]:
    if step.repeat is not None and (step.repeat.times > 1 or step.repeat.until is not None):
        one = length_s(step.model_copy(update={"repeat": None}))
        if step.repeat.every + _EPSILON < one:
            yield (
                (*loc, "repeat", "every"),
                f"repeats would overlap: every {format_duration(step.repeat.every)} is shorter than "
                f"the step ({format_duration(one)})",
            )
    if not isinstance(step, FaultStep):
        return
    fault = step.fault
    if step.duration is None and not fault.instant:
        yield (*loc, "duration"), f"required field missing (the TTL of a {fault.type} fault)"
    if step.duration is not None and step.duration > MAX_TTL_S + _EPSILON:
        yield (
            (*loc, "duration"),
            f"must be <= 1h, the longest TTL a fault may have (got {format_duration(step.duration)})",
        )
    if runtime_known:
        yield from _check_capabilities(fault.type, loc, scenario.target.runtime)
    # ramp_to_ms and ramp come together: a rule of the contract's model (crashlab.faultkinds)
    ramp = getattr(fault, "ramp", 0.0)
    if ramp and step.duration is not None and ramp > step.duration + _EPSILON:
        yield (
            (*loc, "fault", "ramp"),
            f"the ramp ({format_duration(ramp)}) is longer than the step ({format_duration(step.duration)})",
        )


def _check_capabilities(fault_type: str, loc: Loc, runtime_name: str) -> Iterator[Finding]:
    """The target runtime must have every capability the fault needs (stack.registry)."""
    if fault_type not in catalogue.CATALOGUE or runtime_name not in runtimes.NAMES:
        return  # the model has already said what is wrong with the type or the runtime
    runtime = runtimes.get(runtime_name)
    for capability in sorted(catalogue.get(fault_type).needs, key=lambda c: c.value):
        if not runtime.has(capability):
            able = runtimes.with_capability(capability)
            yield (
                (*loc, "fault", "type"),
                f"{fault_type} needs a runtime that can {capability.means}; target.runtime "
                f"{runtime_name!r} cannot (runtimes that can: {', '.join(able) or 'none'})",
            )


#: what only a runtime that brings its own stack up can apply (a stack running elsewhere has its own)
_STARTED_STACK_FIELDS = ("profile", "switches", "memory_limits_mb", "restart_policy")


def _check_target(scenario: Scenario, intact: Callable[[Loc], bool]) -> Iterator[Finding]:
    """A runtime that connects to a stack running elsewhere needs its URLs and can apply nothing of how
    a stack is started; any other runtime takes no URLs (stack.registry ``connects``)."""
    target = scenario.target
    if target.runtime not in runtimes.NAMES:
        return
    runtime = runtimes.get(target.runtime)
    connecting = tuple(rt.name for rt in runtimes.RUNTIMES if rt.connects)
    if runtime.connects:
        if "urls" not in target.model_fields_set and intact(("target", "urls")):
            yield (
                ("target", "urls"),
                f"required field missing: runtime {runtime.name!r} connects to a stack running elsewhere; "
                "name its URLs: {game: URL, odds: URL, prometheus: URL} (alertmanager optional)",
            )
        for name in _STARTED_STACK_FIELDS:
            if name in target.model_fields_set:
                yield (
                    ("target", name),
                    f"runtime {runtime.name!r} cannot apply it: the stack runs elsewhere with its own "
                    "settings (set them where it is deployed)",
                )
        return
    for name in ("urls", "admin_token_file"):
        if name in target.model_fields_set:
            yield (
                ("target", name),
                f"only for a runtime that connects to a stack running elsewhere ({', '.join(connecting)}); "
                f"runtime {runtime.name!r} brings its own stack up",
            )


def _check_url(check: HttpCheck, loc: Loc) -> Iterator[Finding]:
    where = (*loc, "http", "url")
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(check.url) if name is not None]
    except ValueError as exc:
        yield where, f"bad placeholder: {exc} (got {check.url!r})"
        return
    for name in fields:
        if name not in PLACEHOLDERS:
            choices = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            yield where, f"unknown placeholder {{{name}}}; use {choices}{suggest(name, PLACEHOLDERS)}"
    if fields:
        return
    parts = urlsplit(check.url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        yield (
            where,
            f"must be an http(s) URL or start with {{game}}, {{odds}} or {{prometheus}} (got {check.url!r})",
        )
    elif not loopback_host(host):
        yield where, f"drills only talk to loopback (127.0.0.0/8, localhost) (got host {host!r})"


def _probes(scenario: Scenario) -> Iterator[tuple[Probe, Loc]]:
    steady = scenario.steady_state
    for i, probe in enumerate(steady.before):
        yield probe, ("steady_state", "before", i)
    if steady.during is not None:
        for i, probe in enumerate(steady.during.probes):
            yield probe, ("steady_state", "during", "probes", i)
    for i, probe in enumerate(steady.after):
        yield probe, ("steady_state", "after", i)


def _unique(items: list[tuple[str, Loc]], what: str, where: Callable[[Loc], str]) -> Iterator[Finding]:
    first: dict[str, Loc] = {}
    for name, loc in items:
        if name in first:
            yield (*loc, "name"), f"duplicate {what} name {name!r} (first {where(first[name])})"
        else:
            first[name] = loc


def _always(_: Loc) -> bool:
    return True


def _at(loc: Loc) -> str:
    return f"at {format_loc(loc)}"


def check(
    scenario: Scenario,
    base_dir: Path | None = None,
    intact: Callable[[Loc], bool] = _always,
    where: Callable[[Loc], str] = _at,
) -> list[Finding]:
    """Every semantic problem of a scenario the model accepted. ``base_dir``: the file's folder.

    ``intact(loc)`` says whether that part of the file made it into ``scenario`` (False when the model
    rejected it and it was left out); checks that depend on a missing part are skipped. ``where(loc)``
    names another place in the file in a message (default ``at timeline[0]``; the loader says ``on line 5``).
    """
    # the game day's checks use its action registry, which reports params problems with this package's
    # messages: imported here, once the package is loaded
    from gameday import checks as gameday_checks

    found: list[Finding] = []
    steps = list(_walk_steps(scenario.timeline, ("timeline",)))
    found.extend(_unique([(step.name, loc) for step, loc in steps], "step", where))
    runtime_known = intact(("target", "runtime"))
    if runtime_known:
        found.extend(_check_target(scenario, intact))
    for step, loc in steps:
        found.extend(_check_step(step, loc, scenario, runtime_known))

    load = scenario.load
    # a game day's load runs until the game day ends (gameday.runner), whatever load.duration says
    ends: tuple[float, str, str] | None = None
    if scenario.gameday is not None:
        ends = (scenario.gameday.max_duration, "the game day ends", "gameday.max_duration")
    elif load is not None and intact(("load",)):
        which = "load.duration" if load.stages is None else "the sum of load.stages"
        ends = (load.total_s, "the load ends", which)
    if ends is not None:
        end, what, which = ends
        for planned in expand(scenario.timeline):
            if planned.end_s > end + _EPSILON:
                found.append(
                    (
                        (*planned.loc, "at"),
                        f"{planned.label} ends at {format_duration(planned.end_s)}, after {what} at "
                        f"{format_duration(end)} ({which})",
                    )
                )
    if load is not None and intact(("load",)) and load.request_mix and not any(load.request_mix.values()):
        found.append((("load", "request_mix"), "every weight is 0"))

    probes = list(_probes(scenario))
    found.extend(_unique([(p.name, loc) for p, loc in probes], "probe", where))
    for probe, loc in probes:
        if isinstance(probe, HttpProbe):
            found.extend(_check_url(probe.http, loc))
        elif not probe.promql.strip():
            found.append(((*loc, "promql"), "must not be empty"))
    guardrails = [(g, ("guardrails", i)) for i, g in enumerate(scenario.guardrails)]
    found.extend(_unique([(g.name, loc) for g, loc in guardrails], "guardrail", where))
    for guardrail, loc in guardrails:
        if isinstance(guardrail, HttpGuardrail):
            found.extend(_check_url(guardrail.http, loc))
        elif not guardrail.promql.strip():
            found.append(((*loc, "promql"), "must not be empty"))

    queries = [(p.promql, (*loc, "promql")) for p, loc in probes if isinstance(p, PromQLProbe)]
    queries += [(g.promql, (*loc, "promql")) for g, loc in guardrails if isinstance(g, PromQLGuardrail)]
    queries += gameday_checks.promql(scenario)
    queries = [(query, loc) for query, loc in queries if query.strip()]
    for index, message in promql_errors([q for q, _ in queries]).items():
        found.append((queries[index][1], f"PromQL: {message} (got {queries[index][0]!r})"))

    expectations = scenario.expectations
    known = alert_names()
    for key in ("alerts_fired", "alerts_not_fired"):
        for i, alert in enumerate(getattr(expectations, key)):
            if alert not in known:
                hint = suggest(alert, known) or f"; alerts: {', '.join(known)}"
                found.append((("expectations", key, i), f"unknown alert {alert!r}{hint}"))
    both = set(expectations.alerts_fired) & set(expectations.alerts_not_fired)
    for alert in sorted(both):
        found.append((("expectations", "alerts_not_fired"), f"{alert!r} is also in alerts_fired"))
    low, high = expectations.availability_min, expectations.availability_max
    if low is not None and high is not None and low > high:
        found.append((("expectations", "availability_min"), f"is above availability_max ({low} > {high})"))

    if intact(("target", "profile")) and intact(("target", "switches")):
        found.extend(_check_profile(scenario, base_dir))
    found.extend(gameday_checks.check(scenario, steps, base_dir, intact))
    return found


def _check_profile(scenario: Scenario, base_dir: Path | None) -> Iterator[Finding]:
    """The profile exists and is valid, and every switch override has known, valid settings (checked
    with the service's own profile model, ``service.profile``)."""
    profile = scenario.target.profile
    path: Path | None = None
    if profile not in PROFILES:
        path = Path(profile)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            hint = suggest(profile, PROFILES)
            yield (
                ("target", "profile"),
                f"must be naive, hardened or a profile YAML file; no file {str(path)!r}{hint}",
            )
            return
    try:
        from service.profile import Profile, load_profile
    except ModuleNotFoundError:  # an install without the service: nothing to check against
        return
    for name, override in scenario.target.switches.items():
        if isinstance(override, bool):
            continue
        model = Profile.model_fields[name].annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        try:
            model.model_validate(override)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc, message = convert(err, override, root=model)
                yield ("target", "switches", name, *loc), message
    if path is not None:
        try:
            load_profile(str(path), env={})
        except CrashlabError as exc:
            yield ("target", "profile"), f"invalid profile: {exc}"
