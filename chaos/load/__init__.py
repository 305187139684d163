"""Locust load: the players' locustfile (run only as a subprocess) and its integration."""
