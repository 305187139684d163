"""Whether Prometheus scrapes a set of jobs yet: the one wait-until-scraped both runtimes, ``crashlab
up`` callers and the drill runner use (a new file_sd target is picked up within a few seconds)."""

from __future__ import annotations

from collections.abc import Iterable

from crashlab.prometheus import Prometheus, PrometheusError
from crashlab.waits import WaitTimeout, wait_until
from stack.runtime import StackError


def wait_scraped(prometheus_url: str, jobs: Iterable[str], timeout_s: float) -> None:
    """Wait until every job of ``jobs`` has been scraped successfully; :class:`StackError` naming the
    missing ones after ``timeout_s``."""
    prom = Prometheus(prometheus_url, timeout_s=2.0)
    wanted = set(jobs)
    missing: set[str] = set(wanted)

    def all_scraped() -> bool:
        nonlocal missing
        try:
            missing = wanted - prom.scraped_jobs()
        except PrometheusError:
            missing = set(wanted)
        return not missing

    try:
        wait_until(all_scraped, timeout_s, "the first scrapes", every_s=0.25)
    except WaitTimeout:
        raise StackError(
            f"prometheus: targets not scraped within {timeout_s:g} s: {', '.join(sorted(missing))}; "
            f"see {prom.url}/targets"
        ) from None


def wait_alertmanager_known(prometheus_url: str, timeout_s: float) -> None:
    """Wait until Prometheus has discovered an Alertmanager to send to. Its discovery updates the
    notifier only every few seconds after start-up, and an alert that fires before then reaches no
    Alertmanager until Prometheus resends it (a minute later): a stack is not ready to page before."""
    prom = Prometheus(prometheus_url, timeout_s=2.0)

    def known() -> bool:
        try:
            return bool(prom.alertmanagers())
        except PrometheusError:
            return False

    try:
        wait_until(known, timeout_s, "Prometheus to discover the Alertmanager", every_s=0.25)
    except WaitTimeout:
        raise StackError(
            f"prometheus: no Alertmanager discovered within {timeout_s:g} s; "
            f"see {prom.url}/api/v1/alertmanagers and the alerting block of its config"
        ) from None
