#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""plot.py - draw CPU and peak RSS per node against N as one SVG (no plotting library).

    bench/plot.py OUT.svg LABEL=FILE.json [LABEL=FILE.json ...]   (split at the last "=")

Each FILE.json is a --json result of bench/run.py or bench/metrics_server.py; points with the
same LABEL form one line (sorted by N). A bench/telegraf.py result gives one line per collector
("LABEL kubepulse", "LABEL telegraf"), each point the mean of its rounds at that N. Both axes of N are logarithmic. For a label with two
or more sizes it also fits CPU per cycle and peak RSS as a + b x N (least squares) and prints
the slope b with r^2 on stdout and under the legend: the marginal cost of one more node.
"""

import json
import math
import sys

W, H, PAD = 460, 300, 56
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;")


def panel(x0, title, series, key, unit, target):
    out = [f'<g transform="translate({x0},0)">',
           f'<text x="{W / 2}" y="20" text-anchor="middle" font-weight="bold">{esc(title)}</text>']
    ns = [n for pts in series.values() for n, _ in pts]
    vs = [v for pts in series.values() for _, v in pts] + ([target] if target else [])
    lo_n, hi_n = math.log10(min(ns)) - 0.1, math.log10(max(ns)) + 0.1
    top = max(vs) * 1.15
    sx = lambda n: PAD + (math.log10(n) - lo_n) / (hi_n - lo_n) * (W - PAD - 10)  # noqa: E731
    sy = lambda v: H - PAD + 10 - v / top * (H - PAD - 30)  # noqa: E731
    out.append(f'<line x1="{PAD}" y1="{sy(0)}" x2="{W - 10}" y2="{sy(0)}" stroke="black"/>')
    out.append(f'<line x1="{PAD}" y1="{sy(0)}" x2="{PAD}" y2="{sy(top)}" stroke="black"/>')
    for n in sorted(set(ns)):
        out.append(f'<text x="{sx(n)}" y="{sy(0) + 16}" text-anchor="middle">{n}</text>')
    for i in range(5):
        v = top * i / 4
        out.append(f'<text x="{PAD - 4}" y="{sy(v) + 4}" text-anchor="end">{v:.3g}</text>')
        out.append(f'<line x1="{PAD}" y1="{sy(v)}" x2="{W - 10}" y2="{sy(v)}" '
                   'stroke="#ddd"/>')
    out.append(f'<text x="{W / 2}" y="{H - 8}" text-anchor="middle">nodes N (log)</text>')
    out.append(f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})" '
               f'text-anchor="middle">{esc(unit)}</text>')
    if target:
        out.append(f'<line x1="{PAD}" y1="{sy(target)}" x2="{W - 10}" y2="{sy(target)}" '
                   'stroke="gray" stroke-dasharray="6,4"/>')
        out.append(f'<text x="{W - 12}" y="{sy(target) - 4}" text-anchor="end" fill="gray">'
                   f'target {target:g}</text>')
    for ci, (label, pts) in enumerate(series.items()):
        c = COLORS[ci % len(COLORS)]
        pts = sorted(pts)
        path = " ".join(f"{sx(n):.1f},{sy(v):.1f}" for n, v in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for n, v in pts:
            out.append(f'<circle cx="{sx(n):.1f}" cy="{sy(v):.1f}" r="3.5" fill="{c}"/>')
            out.append(f'<text x="{sx(n) + 5:.1f}" y="{sy(v) - 6:.1f}" fill="{c}" '
                       f'font-size="10">{v:.3g}</text>')
    out.append("</g>")
    return out


def fit(pts):
    """Least squares v = a + b n over [(n, v)]: (a, b, r^2)."""
    k = len(pts)
    mn = sum(n for n, _ in pts) / k
    mv = sum(v for _, v in pts) / k
    sxx = sum((n - mn) ** 2 for n, _ in pts)
    b = sum((n - mn) * (v - mv) for n, v in pts) / sxx
    a = mv - b * mn
    ss = sum((v - mv) ** 2 for _, v in pts)
    res = sum((v - a - b * n) ** 2 for n, v in pts)
    return a, b, (1 - res / ss) if ss else 1.0


def slope_text(label, totals):
    pts = totals[label]
    if len({n for n, _, _ in pts}) < 2:
        return None
    a, b, r2 = fit([(n, c) for n, c, _ in pts])
    ra, rb, rr2 = fit([(n, m) for n, _, m in pts])
    return [f"{label}: CPU per cycle = {a:.3f} s + {b * 1e3:.3f} ms x N (r^2 {r2:.4f})",
            f"{label}: peak RSS = {ra / 1024:.1f} MiB + {rb:.1f} KiB x N (r^2 {rr2:.4f})"]


def summaries(label, doc):
    """(label, summary) pairs of one result file: run.py's summary, or per collector and N
    the mean of a telegraf.py file's rounds."""
    if "summary" in doc:
        return [(label, doc["summary"])]
    groups = {}
    for r in doc["runs"]:
        groups.setdefault((r["collector"], r["nodes"]), []).append(r)
    out = []
    for (collector, n), runs in sorted(groups.items()):
        mean = lambda k: sum(r[k] for r in runs) / len(runs)  # noqa: E731
        out.append((f"{label} {collector}".strip(), {
            "nodes": n, "mcore_per_node": mean("millicores_per_node"),
            "hwm_kib_per_node": mean("hwm_kib_per_node"), "hwm_kib": mean("hwm_kib"),
            "cpu_s_avg": sum(r["cpu_s"] / r["cycles"] for r in runs) / len(runs)}))
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cpu, rss, totals = {}, {}, {}
    for arg in sys.argv[2:]:
        label, path = arg.rsplit("=", 1)
        with open(path, encoding="utf-8") as f:
            for lab, s in summaries(label, json.load(f)):
                cpu.setdefault(lab, []).append((s["nodes"], s["mcore_per_node"]))
                rss.setdefault(lab, []).append((s["nodes"], s["hwm_kib_per_node"]))
                totals.setdefault(lab, []).append((s["nodes"], s["cpu_s_avg"], s["hwm_kib"]))
    slopes = [t for label in cpu for t in slope_text(label, totals) or []]
    for t in slopes:
        print(t)
    total_h = H + 20 + 16 * (len(cpu) + len(slopes))
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * W}" height="{total_h}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{2 * W}" height="{total_h}" fill="white"/>']
    svg += panel(0, "average CPU per node", cpu, "mcore_per_node", "millicores per node", 0.1)
    svg += panel(W, "peak RSS per node", rss, "hwm_kib_per_node", "KiB per node", 100)
    for ci, label in enumerate(cpu):
        c = COLORS[ci % len(COLORS)]
        y = H + 24 + 16 * ci
        svg.append(f'<rect x="{PAD}" y="{y - 6}" width="14" height="3" fill="{c}"/>')
        svg.append(f'<text x="{PAD + 20}" y="{y}">{esc(label)}</text>')
    for si, t in enumerate(slopes):
        y = H + 24 + 16 * (len(cpu) + si)
        svg.append(f'<text x="{PAD}" y="{y}">{esc(t)}</text>')
    svg.append("</svg>")
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
