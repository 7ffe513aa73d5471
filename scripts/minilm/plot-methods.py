#!/usr/bin/env python3
"""SVG of learn-masks' held-out table: per layer, each method's held-out error divided
by Wanda's (below 1 = better than Wanda), one line per method, log scale.

Reads the markdown table learn-masks prints with --held-out (cells "in / held").
Usage: plot-methods.py LEARN_MASKS_OUTPUT.txt OUT.svg
"""

import math
import sys

COLOURS = ["#888888", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
SHORT_NAMES = {
    "attention.self.query": "q",
    "attention.self.key": "k",
    "attention.self.value": "v",
    "attention.output.dense": "attn-out",
    "intermediate.dense": "inter",
    "output.dense": "out",
}
W, H, LEFT, RIGHT, TOP, BOTTOM = 900, 360, 60, 170, 30, 60


def parse(path):
    labels, rows = None, []
    for line in open(path, encoding="utf-8"):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| layer | shape |"):
            labels = cells[2:-1]
        elif labels and line.startswith("| layer.") and "/" in line:
            held = [float(c.split("/")[1]) for c in cells[2 : 2 + len(labels)]]
            rows.append((cells[0], held))
    if not labels or not rows:
        sys.exit(f"{path}: no held-out table (run learn-masks with --held-out)")
    return labels, rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    labels, rows = parse(sys.argv[1])
    if "wanda" not in labels:
        sys.exit("the table has no wanda column to divide by")
    ref = labels.index("wanda")
    ratios = [[h[k] / h[ref] for h in (r[1] for r in rows)] for k in range(len(labels))]
    lo = min(min(r) for r in ratios)
    hi = max(max(r) for r in ratios)
    lo, hi = math.log10(lo) - 0.05, math.log10(hi) + 0.05
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    x = lambda i: LEFT + pw * (i + 0.5) / len(rows)  # noqa: E731
    y = lambda v: TOP + ph * (hi - math.log10(v)) / (hi - lo)  # noqa: E731
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="13">all-MiniLM-L6-v2, 2:4: held-out layer error '
        "/ Wanda's held-out error (log scale; below 1 = better than Wanda)</text>",
    ]
    for e in range(math.floor(hi * 4), math.ceil(lo * 4) - 1, -1):
        v = 10 ** (e / 4)
        if lo <= math.log10(v) <= hi:
            out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                       f'stroke="#ddd"/><text x="{LEFT - 5}" y="{y(v) + 4:.1f}" '
                       f'text-anchor="end">{v:.2g}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT + pw}" y1="{y(1):.1f}" y2="{y(1):.1f}" '
               'stroke="black" stroke-dasharray="4 3"/>')
    for i, (name, _) in enumerate(rows):
        block, _, layer = name.removeprefix("layer.").partition(".")
        short = f"{block}.{SHORT_NAMES.get(layer, layer)}"
        out.append(f'<text transform="translate({x(i) + 3:.1f},{TOP + ph + 6}) rotate(60)" '
                   f'font-size="9">{short}</text>')
    for k, label in enumerate(labels):
        c = COLOURS[k % len(COLOURS)]
        pts = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(ratios[k]))
        out.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.5"/>')
        ly = TOP + 14 * k + 10
        out.append(f'<line x1="{W - RIGHT + 15}" x2="{W - RIGHT + 35}" y1="{ly}" y2="{ly}" '
                   f'stroke="{c}" stroke-width="2"/><text x="{W - RIGHT + 40}" y="{ly + 4}">'
                   f"{label}</text>")
    out.append("</svg>\n")
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()
