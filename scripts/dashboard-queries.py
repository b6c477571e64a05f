#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""dashboard-queries.py — every InfluxQL query of a Grafana dashboard, ready to run.

    scripts/dashboard-queries.py [--dashboard FILE] [--var NAME=VALUE]... [--range 1h]
                                 [--interval 1m] [--json] [--templating]

Reads charts/kubepulse/files/dashboard.json (or FILE) and prints each panel target's query,
one per line, with Grafana's macros replaced the way Grafana would for a query covering the
last RANGE: $timeFilter -> time > now() - RANGE, $__interval -> INTERVAL, and each template
variable ($node, ${namespace}, [[pod]]) by its value. A value is a literal tag value (e.g.
--var node=node-a); inside a /regex/ it is regex-escaped as Grafana does. Variables not given
are "All", i.e. the variable's allValue (.*). --templating prints the template variables'
own queries (SHOW TAG VALUES ...) as well. --json prints a list of
{"panel", "refId", "query"} objects instead, for a test that runs each against InfluxDB.
"""

import argparse
import json
import re
import sys
from pathlib import Path

DEFAULT_DASHBOARD = Path(__file__).resolve().parent.parent / "charts/kubepulse/files/dashboard.json"
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
REGEX_SPECIALS = re.compile(r"([-\\/^$*+?.()|\[\]{}])")


def panels_of(dashboard):
    """Every panel, including those nested in collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def regex_spans(query):
    """(start, end) offsets of the /regex/ literals of an InfluxQL query, skipping quoted
    identifiers and strings ("cpu/usage_rate" is a name, not a regex) and divisions."""
    spans, quote, start, i = [], None, None, 0
    while i < len(query):
        c = query[i]
        if c == "\\":
            i += 2
            continue
        if start is not None:
            if c == "/":
                spans.append((start, i))
                start = None
        elif quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "/" and query[:i].rstrip().endswith(("=~", "!~")):
            start = i  # a regex follows =~ or !~; elsewhere / divides
        i += 1
    return spans


def substitute(query, values, all_values, time_range, interval):
    query = query.replace("$timeFilter", f"time > now() - {time_range}")
    query = query.replace("$__interval", interval)

    spans = regex_spans(query)

    def in_regex(pos):
        return any(start < pos < end for start, end in spans)

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            value = values[name]
            return REGEX_SPECIALS.sub(r"\\\1", value) if in_regex(m.start()) else value
        if name in all_values:
            return all_values[name]
        return m.group(0)  # not a variable of this dashboard: leave it for InfluxDB to reject

    return VAR_RE.sub(repl, query)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dashboard", type=Path, default=DEFAULT_DASHBOARD)
    ap.add_argument("--var", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--range", default="1h", help="time range of $timeFilter (default 1h)")
    ap.add_argument("--interval", default="1m", help="value of $__interval (default 1m)")
    ap.add_argument("--json", action="store_true", help="print JSON objects, not lines")
    ap.add_argument("--templating", action="store_true",
                    help="include the template variables' queries")
    args = ap.parse_args()

    dashboard = json.loads(args.dashboard.read_text())
    variables = dashboard.get("templating", {}).get("list", [])
    all_values = {v["name"]: v.get("allValue") or ".*" for v in variables}
    values = {}
    for item in args.var:
        name, sep, value = item.partition("=")
        if not sep or name not in all_values:
            ap.error(f"--var {item}: expected NAME=VALUE with NAME one of "
                     f"{', '.join(sorted(all_values))}")
        values[name] = value

    out = []
    if args.templating:
        for v in variables:
            if v.get("type") == "query":
                q = v["query"] if isinstance(v["query"], str) else v["query"].get("query", "")
                out.append({"panel": f"variable {v['name']}", "refId": v["name"],
                            "query": substitute(q, values, all_values, args.range,
                                                args.interval)})
    for panel in panels_of(dashboard):
        for target in panel.get("targets", []):
            if target.get("hide") or not target.get("query"):
                continue
            out.append({"panel": panel.get("title", ""), "refId": target.get("refId", ""),
                        "query": substitute(target["query"], values, all_values, args.range,
                                            args.interval)})
    if not out:
        sys.exit(f"{args.dashboard}: no queries found")
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for item in out:
            print(item["query"])


if __name__ == "__main__":
    main()
