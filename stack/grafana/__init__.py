"""Grafana provisioning (datasources with fixed UIDs, dashboard provider) and the dashboards as code."""
