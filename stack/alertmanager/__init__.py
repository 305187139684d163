"""Alertmanager for both runtimes: its config (routes, grouping, inhibition, the pager webhook;
:mod:`stack.alertmanager.config`) and the server's binary and command line (:mod:`stack.alertmanager.server`).
See docs/stack.md, "The alert pipeline"."""
