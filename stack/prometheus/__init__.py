"""Prometheus configuration shared by both runtimes: the config generator, the recording and alerting
rules (``rules/fast/*.yml``: drill windows; ``rules/real/*.yml``: SRE-book windows), and their promtool
unit tests (``tests/*.yml``)."""
