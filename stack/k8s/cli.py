"""``crashlab k8s manifests [--values FILE]`` and ``crashlab k8s values``."""

from __future__ import annotations

from pathlib import Path

import click

from stack.k8s.manifests import render, to_yaml
from stack.k8s.values import default_values_yaml, load_values


@click.group("k8s")
def k8s_group() -> None:
    """The kit on Kubernetes: manifests for kubectl apply (docs/kubernetes.md)."""


@k8s_group.command("manifests")
@click.option(
    "--values",
    "values_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="CRASHLAB_K8S_VALUES",
    help="a values YAML (crashlab k8s values prints the defaults) [env CRASHLAB_K8S_VALUES]",
)
def manifests_cmd(values_file: Path | None) -> None:
    """Print every manifest as one multi-document YAML: crashlab k8s manifests | kubectl apply -f -"""
    click.echo(to_yaml(render(load_values(values_file))), nl=False)


@k8s_group.command("values")
def values_cmd() -> None:
    """Print the default values (a starting point for --values)."""
    click.echo(default_values_yaml(), nl=False)


COMMANDS: list[click.Command] = [k8s_group]
