"""`lstmcli explore` at scale: 128 units × 5,000 tokens — page size, explore's wall time, and the
page's time to interactive in headless Debian chromium (goals: ≤ 10 MB, ≤ 3 s, ≤ 2 s)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchsuite.common import RESULTS, ROOT, children_cpu_seconds, log, lstmcli, run_timed

TOKENS = 5000
UNITS = 128
GOALS = {"page_mb_max": 10.0, "explore_s_max": 3.0, "interactive_s_max": 2.0}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWS = {
    "text": "text-view",
    "heatmap": "heatmap-view",
    "match": "match-view",
    "saturation": "saturation-view",
}


def trained_run(tmp: Path, epochs: int) -> Path:
    """configs/text.yaml with 128 units (the lighthouse story, character level)."""
    out = tmp / "text128"
    log(f"training configs/text.yaml with {UNITS} units for {epochs} epochs …")
    run_timed(
        [
            *lstmcli(),
            "train",
            str(ROOT / "configs" / "text.yaml"),
            "--out",
            str(out),
            "--set",
            f"model.units={UNITS}",
            "--set",
            f"train.epochs={epochs}",
            "--quiet",
        ]
    )
    return out


def corpus(tmp: Path) -> Path:
    """5,000 characters: the lighthouse story, repeated as needed."""
    story = (ROOT / "configs" / "data" / "lighthouse.txt").read_text(encoding="utf-8")
    path = tmp / "text5000.txt"
    path.write_text((story * (TOKENS // len(story) + 1))[:TOKENS], encoding="utf-8")
    return path


def time_explore(
    run: Path, text: Path, page: Path, repeats: int
) -> tuple[list[float], list[float], dict[str, Any]]:
    """Wall seconds of each `explore` (end to end, a subprocess), and its CPU seconds (user + system):
    on a loaded machine the wall time waits for a core, the CPU time does not."""
    cmd = [*lstmcli(), "explore", str(run), "--text", str(text), "--out", str(page), "--json"]
    run_timed(cmd)  # warm the page cache
    times, cpu, summary = [], [], {}
    for _ in range(repeats):
        cpu0 = children_cpu_seconds()
        done = run_timed(cmd)
        cpu.append(children_cpu_seconds() - cpu0)
        times.append(done.seconds)
        summary = json.loads(done.stdout)
    return times, cpu, summary


def time_browser(page: Path, repeats: int, shots: Path | None) -> dict[str, list[float]]:
    """From navigation start to the page's ready mark (its data decoded, text, heatmap and scatter
    drawn), by the page's own clock and by the driver's; then one unit change, one heatmap redraw
    and one select-and-match, each timed inside the page."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {
        k: [] for k in ("interactive_s", "load_wall_s", "unit_ms", "heat_ms", "match_ms")
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for n in range(repeats + 1):  # the first load warms the browser and is not counted
            tab = browser.new_page(viewport={"width": 1000, "height": 800})
            errors: list[str] = []
            tab.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            tab.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            t0 = time.perf_counter()
            tab.goto(page.resolve().as_uri())
            tab.wait_for_function("window.exploreReady", timeout=60_000, polling=20)
            wall = time.perf_counter() - t0
            # the page's own clock: milliseconds from navigation start to its ready mark
            ready_ms = tab.evaluate("window.exploreReady.at")
            unit_ms = tab.evaluate(
                """() => { const h = document.getElementById('heat'), r = h.getBoundingClientRect();
                   const t = performance.now();
                   const at = {clientX: r.left + 2, clientY: r.top + r.height * 0.6};
                   h.dispatchEvent(new MouseEvent('click', at));
                   return performance.now() - t; }"""
            )
            heat_ms = tab.evaluate(
                """() => { const s = document.getElementById('heat-array'); s.value = 'c';
                   const t = performance.now(); s.dispatchEvent(new Event('change'));
                   return performance.now() - t; }"""
            )
            match_ms = tab.evaluate(
                """() => { const a = document.querySelector("#text .tok[data-t='1000']"),
                   b = document.querySelector("#text .tok[data-t='1004']");
                   document.getElementById('threshold').value = '0.2';
                   const r = document.createRange(); r.setStartBefore(a); r.setEndAfter(b);
                   getSelection().removeAllRanges(); getSelection().addRange(r);
                   const t = performance.now();
                   document.getElementById('text').dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
                   return performance.now() - t; }"""
            )
            if errors:
                raise SystemExit(f"the page reported errors: {errors}")
            if n:
                out["interactive_s"].append(ready_ms / 1000)
                out["load_wall_s"].append(wall)
                out["unit_ms"].append(unit_ms)
                out["heat_ms"].append(heat_ms)
                out["match_ms"].append(match_ms)
            if shots is not None and n == repeats:
                screenshots(tab, shots)
            tab.close()
        browser.close()
    return out


def screenshots(tab: Any, shots: Path) -> None:
    """One PNG per view (docs/explore-*.png): a unit picked, a token hovered, a stretch matched."""
    shots.mkdir(parents=True, exist_ok=True)
    tab.select_option("#heat-array", "h")
    tab.fill("#unit", "5")
    tab.dispatch_event("#unit", "change")
    tab.locator("#match-view").screenshot(path=str(shots / "explore-match.png"))
    tab.locator("#heatmap-view").screenshot(path=str(shots / "explore-heatmap.png"))
    tab.locator("#saturation-view").screenshot(path=str(shots / "explore-saturation.png"))
    tab.locator("#text").evaluate("t => { t.scrollTop = 0; }")
    tab.hover("#text .tok[data-t='40']")
    tab.locator("#text-view").screenshot(path=str(shots / "explore-text.png"))
    for view in VIEWS:
        shrink(shots / f"explore-{view}.png")
    log(f"screenshots in {shots}/explore-{{{','.join(VIEWS)}}}.png")


def shrink(png: Path) -> None:
    """Docs images stay small: a 128-colour palette, optimised (Pillow, which matplotlib brings)."""
    from PIL import Image

    with Image.open(png) as img:
        small = img.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    small.save(png, optimize=True)


def report(
    summary: dict[str, Any], explore_s: list[float], explore_cpu: list[float], browser: dict[str, list[float]]
) -> dict[str, Any]:
    med = {k: statistics.median(v) for k, v in browser.items()}
    page_mb = summary["bytes"] / 1e6
    load = [round(x, 2) for x in os.getloadavg()]
    result = {
        "benchmark": f"lstmcli explore: {summary['units']} units × {summary['tokens']} tokens "
        f"({summary['cell']})",
        "load_average_1_5_15": load,
        "page_bytes": summary["bytes"],
        "explore_seconds": explore_s,
        "explore_median_s": statistics.median(explore_s),
        "explore_cpu_seconds": explore_cpu,
        "explore_cpu_median_s": statistics.median(explore_cpu),
        "browser": browser,
        "browser_median": med,
        "quantisation_max_abs_error": summary["quantisation"]["max_abs_error"],
        "goal": GOALS,
    }
    rows = [
        ("page size", f"{page_mb:.2f} MB", f"<= {GOALS['page_mb_max']:.0f} MB"),
        ("explore (end to end)", f"{result['explore_median_s']:.2f} s", f"<= {GOALS['explore_s_max']:.0f} s"),
        ("explore, CPU time", f"{result['explore_cpu_median_s']:.2f} s", "(user + system)"),
        ("time to interactive", f"{med['interactive_s']:.2f} s", f"<= {GOALS['interactive_s_max']:.0f} s"),
        ("load, driver's clock", f"{med['load_wall_s']:.2f} s", ""),
        ("pick a unit (click)", f"{med['unit_ms']:.0f} ms", ""),
        ("redraw the heatmap", f"{med['heat_ms']:.0f} ms", ""),
        ("select and match", f"{med['match_ms']:.0f} ms", ""),
    ]
    print(f"{result['benchmark']}; medians; 1-minute load average {load[0]} on {os.cpu_count()} cores")
    print(f"{'measure':<24} {'value':>10}  goal")
    for name, value, goal in rows:
        print(f"{name:<24} {value:>10}  {goal}")
    return result


def main() -> dict[str, Any]:
    """Trains configs/text.yaml at 128 units (or takes --run), explores 5,000 characters of its
    story, opens the page in headless Debian chromium. Prints a table and writes
    benchmarks/results/explore.json.

        python benchmarks/bench_explore.py [--repeats 5] [--run RUN_DIR] [--shots docs]
    """
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the 128-unit run it trains")
    ap.add_argument("--run", type=Path, help=f"an existing character-level run directory ({UNITS} units)")
    ap.add_argument("--shots", type=Path, help="also save a screenshot of each view here (docs)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run = args.run or trained_run(tmp, args.epochs)
        page = tmp / "explore.html"
        explore_s, explore_cpu, summary = time_explore(run, corpus(tmp), page, args.repeats)
        browser = time_browser(page, args.repeats, args.shots)
    result = report(summary, explore_s, explore_cpu, browser)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explore.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
