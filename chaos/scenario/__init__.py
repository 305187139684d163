"""Drill scenarios: the model (:mod:`chaos.scenario.model`), loading with YAML line numbers and complete
validation (:func:`load_scenario`, :func:`validate_files`), and the ``validate``/``schema`` commands.
The timeline as an absolute plan is :func:`chaos.plan.plan`."""

from chaos.scenario.errors import Problem, ScenarioError
from chaos.scenario.fault_specs import FAULT_TYPES, FaultBase
from chaos.scenario.model import Scenario
from chaos.scenario.validate import check_file, load_scenario, parse_scenario, validate_files

__all__ = [
    "FAULT_TYPES",
    "FaultBase",
    "Problem",
    "Scenario",
    "ScenarioError",
    "check_file",
    "load_scenario",
    "parse_scenario",
    "validate_files",
]
