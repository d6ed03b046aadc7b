#!/usr/bin/env python3
"""Write the long-lag classification data of configs/long-lag.yaml (standard library only).

Each line is one example: the class token (X or Y) first, then LAG distractor tokens drawn
uniformly from a b c d; the label is the class token in lower case. Only the first token
carries the class, so a model must hold it across every distractor (Hochreiter & Schmidhuber
1997, experiment 2). Seeded: the same arguments always write the same file.

    python configs/data/long_lag.py                       # configs/data/long-lag.jsonl
    python configs/data/long_lag.py --lag 2000 --out /tmp/lag2000.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def lines(examples: int, lag: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(examples):
        cls = rng.choice("XY")
        text = cls + "".join(rng.choice("abcd") for _ in range(lag))
        out.append(json.dumps({"text": text, "label": cls.lower()}))
    return out


def main() -> None:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=800, help="lines to write (default 800)")
    ap.add_argument("--lag", type=int, default=1000, help="distractors after the class token (default 1000)")
    ap.add_argument("--seed", type=int, default=13, help="random seed (default 13)")
    ap.add_argument("--out", type=Path, default=here / "long-lag.jsonl", help="file to write")
    args = ap.parse_args()
    args.out.write_text("\n".join(lines(args.examples, args.lag, args.seed)) + "\n", encoding="utf-8")
    print(args.out)


if __name__ == "__main__":
    main()
