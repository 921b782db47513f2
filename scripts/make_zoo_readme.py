"""Writes savedmodels/README.md from every zoo model's assets/metadata.json.

python scripts/make_zoo_readme.py [--root savedmodels]
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_contrastive import zoo, zoo_readme  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(ROOT, "savedmodels"), help="the zoo folder")
    args = parser.parse_args(argv)
    path = os.path.join(args.root, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(zoo_readme.readme_text(args.root))
    print(f"wrote {path} ({len(zoo.list(args.root))} models)")


if __name__ == "__main__":
    main()
