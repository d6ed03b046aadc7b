#!/usr/bin/env python3
"""Write the nested-brackets text of configs/brackets.yaml (standard library only).

Each line is one balanced expression over the letters a b c and the brackets ( ), nested at
most MAX_DEPTH deep; a line ends only at depth 0. The chance of closing a bracket grows with
the depth, so the next token depends on how deep the text is: a model predicts it best by
counting, which is what `lstmcli units RUN --depth '(' ')'` looks for (Karpathy, Johnson &
Fei-Fei 2015 found such a cell in Linux source). Seeded: the same arguments always write the
same file.

    python configs/data/brackets.py                                 # configs/data/brackets.txt
    python configs/data/brackets.py --chars 3000 --seed 7 --out /tmp/held-out.txt
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

MAX_DEPTH = 6


def line(rng: random.Random) -> str:
    out: list[str] = []
    depth = 0
    while True:
        if depth == 0:
            if len(out) >= 4 and rng.random() < 0.25:
                return "".join(out)
            if rng.random() < 0.6:
                out.append("(")
                depth += 1
            else:
                out.append(rng.choice("abc"))
            continue
        close = 0.08 + 0.13 * depth  # 0.21 at depth 1 … 0.86 at depth 6
        opened = 0.0 if depth == MAX_DEPTH else 0.35
        r = rng.random()
        if r < close:
            out.append(")")
            depth -= 1
        elif r < close + opened:
            out.append("(")
            depth += 1
        else:
            out.append(rng.choice("abc"))


def text(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    lines: list[str] = []
    size = 0
    while size < chars:
        lines.append(line(rng))
        size += len(lines[-1]) + 1
    return "\n".join(lines) + "\n"


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=30_000, help="at least this many characters (default 30000)")
    ap.add_argument("--seed", type=int, default=17, help="random seed (default 17)")
    ap.add_argument("--out", type=Path, default=here / "brackets.txt", help="file to write")
    args = ap.parse_args()
    args.out.write_text(text(args.chars, args.seed), encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
