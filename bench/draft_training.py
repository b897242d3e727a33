"""Training time on a large site: 100,000 confirmed entries synthesised by perturbing the seed
corpus (fillers, dropped characters, ASR spacing, units changed), plus the seed corpus.

Usage: python bench/draft_training.py [--n 100000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from callcenter.drafting import DraftingRules  # noqa: E402
from callcenter.drafting.train import Example, seed_corpus, train  # noqa: E402

FILLERS = ("喂", "那个", "呃", "就是", "你好", "我跟你说", "哎", "麻烦你们", "快点啊", "谢谢")


def perturb(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):  # dropped characters (ASR)
        if len(chars) > 8:
            del chars[rng.randrange(len(chars))]
    out = "".join(chars)
    if rng.random() < 0.5:
        out = rng.choice(FILLERS) + out
    if rng.random() < 0.3:
        out = out + rng.choice(FILLERS)
    if rng.random() < 0.3:  # ASR spacing
        out = " ".join(out)
    return out.replace("三", rng.choice("一二三四五六七八九"), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    rng = random.Random(7)
    seed = seed_corpus()
    site = []
    for i in range(args.n):
        e = seed[rng.randrange(len(seed))]
        site.append(Example(perturb(e.text, rng), e.category, e.department, None, e.urgent, e.hazard, "site", i))
    started = time.perf_counter()
    report = train([*seed, *site], DraftingRules.load(), progress=lambda m: print(f"  {m}"))
    print(f"trained on {report.examples} texts in {time.perf_counter() - started:.1f} s "
          f"({report.model.vocabulary_size} features)")


if __name__ == "__main__":
    main()
