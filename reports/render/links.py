"""Links out of the page: Grafana Explore on the exact range (Docker stack), or the live Prometheus graph."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote, urlencode


def grafana_explore(grafana: str, expr: str, start: float, end: float, datasource: str = "prometheus") -> str:
    left = {
        "datasource": datasource,
        "queries": [{"refId": "A", "expr": expr}],
        "range": {"from": str(int(start * 1000)), "to": str(int(end * 1000))},
    }
    return f"{grafana}/explore?orgId=1&left={quote(json.dumps(left, separators=(',', ':')))}"


def grafana_trace(grafana: str, trace_id: str, datasource: str = "tempo") -> str:
    left = {"datasource": datasource, "queries": [{"refId": "A", "queryType": "traceql", "query": trace_id}]}
    return f"{grafana}/explore?orgId=1&left={quote(json.dumps(left, separators=(',', ':')))}"


def prometheus_graph(prometheus: str, expr: str, start: float, end: float) -> str:
    params = {
        "g0.expr": expr,
        "g0.tab": "0",
        "g0.range_input": f"{max(1, round(end - start))}s",
        "g0.end_input": datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%d %H:%M:%S"),
    }
    return f"{prometheus}/graph?{urlencode(params)}"
