"""Scrapes a shale node's /metrics and parses it with the reference
OpenMetrics parser (prometheus_client); prints every sample as one JSON
object per line: {"name", "labels", "value"}. A parse error fails (exit 1).
Usage: scrape_metrics.py http://127.0.0.1:PORT"""

import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families

url = sys.argv[1].rstrip("/") + "/metrics"
with urllib.request.urlopen(url, timeout=30) as r:
    ctype = r.headers.get("Content-Type", "")
    text = r.read().decode("utf-8")
assert ctype.startswith("application/openmetrics-text"), ctype
for family in text_string_to_metric_families(text):
    for s in family.samples:
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value,
                          "type": family.type}))
