"""A French sentence corpus (one sentence a line, deduplicated) from Debian packages' French documentation.

    apt-get install --no-install-recommends manpages-fr debian-reference-fr debian-edu-doc-fr \\
        developers-reference-fr maint-guide-fr debian-faq-fr gimp-help-fr libreoffice-help-fr \\
        debian-handbook kicad-doc-fr lilypond-doc-html-fr aptitude-doc-fr
    python scripts/build_french_corpus.py --out data/french_sentences.txt.gz

Sources (each read where the package installs it; a missing package is named
and skipped): the French manual pages (`/usr/share/man/fr`, roff), and the
HTML / text manuals of Debian Reference, the Debian Edu manual, the
Developers' Reference, the New Maintainers' Guide, the Debian FAQ, GIMP's and
LibreOffice's help, the Debian Administrator's Handbook, KiCad's, LilyPond's
and aptitude's manuals (KiCad's `fr` help and LinuxCNC's `_fr` PDFs are in
English, untranslated: the language filter keeps almost none of them).
Markup, code blocks and command lines are dropped; the prose is cut into
sentences; a sentence is kept when it has 5 to 60 words,
is mostly letters, reads as French (French function words, no English ones
dominating) and is new once lower-cased with its spaces collapsed.

Sentences that are also a French translation in the machine's message
catalogues (`/usr/share/locale/fr/LC_MESSAGES/*.mo`) are left out: those
catalogues are `benchmarks/bench_french.py`'s held-out translation pairs.
The result feeds `data.source: text:PATH` (`recipes/simcse_unsup_e5_small_multilingual_french.yaml`).
"""

import argparse
import collections
import gettext
import glob
import gzip
import html.parser
import os
import random
import re
import sys

SOURCES = {
    "manpages-fr": ["/usr/share/man/fr/**/*.gz"],
    "debian-reference-fr": ["/usr/share/debian-reference/*.fr.html"],
    "debian-edu-doc-fr": ["/usr/share/doc/debian-edu-doc-fr/**/*.html"],
    "developers-reference-fr": ["/usr/share/developers-reference/fr/**/*.html"],
    "maint-guide-fr": ["/usr/share/doc/maint-guide-fr/html/*.fr.html"],
    "debian-faq-fr": ["/usr/share/doc/debian/FAQ/fr/*.html"],
    "gimp-help-fr": ["/usr/share/gimp/2.0/help/fr/**/*.html"],
    "libreoffice-help-fr": ["/usr/share/libreoffice/help/fr/**/*.html"],
    "debian-handbook": ["/usr/share/doc/debian-handbook/html/fr-FR/*.html"],
    "kicad-doc-fr": ["/usr/share/doc/kicad/help/fr/*.html"],
    "lilypond-doc-html-fr": ["/usr/share/doc/lilypond/html/Documentation/**/*-big-page.fr.html"],
    "aptitude-doc-fr": ["/usr/share/doc/aptitude/html/fr/*.html"],
}
FRENCH_WORDS = frozenset(
    "le la les un une des du de et est sont dans pour par sur avec qui que ne pas ce cette ces il elle ils "
    "vous nous on au aux se sa son ses leur leurs peut être fichier si lorsque".split()
)
ENGLISH_WORDS = frozenset("the and is are of to in for with this that be by from it on".split())
_SKIP_TAGS = {"pre", "code", "script", "style", "tt", "kbd", "samp", "screen", "programlisting", "title", "head"}
_SENTENCE_END = re.compile(r"(?<=[.!?»])\s+(?=[«\"(]?[A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ])")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


class _TextExtractor(html.parser.HTMLParser):
    """The text of an HTML / XML page, paragraph by paragraph, without code, scripts or titles."""

    BLOCKS = {"p", "div", "li", "td", "th", "dd", "dt", "br", "h1", "h2", "h3", "h4", "h5", "h6", "paragraph", "tr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip, self.parts, self.paragraphs = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP_TAGS:
            self.skip += 1
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)

    def _flush(self):
        text = " ".join("".join(self.parts).split())
        if text:
            self.paragraphs.append(text)
        self.parts = []

    def close(self):
        super().close()
        self._flush()
        return self.paragraphs


_ROFF_ESCAPES = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\\*(\[[^\]]*\]|\(..|.)"), ""),
    (re.compile(r"\\\((aq|cq)"), "'"),
    (re.compile(r"\\\((lq|rq|Fo|Fc)"), '"'),
    (re.compile(r"\\\((em|en|hy)"), "-"),
    (re.compile(r"\\\(.."), ""),
    (re.compile(r"\\\[[^\]]*\]"), ""),
    (re.compile(r"\\[&|^~0 ]"), " "),
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), r"\\"),
    (re.compile(r"\\s[-+]?\d"), ""),
    (re.compile(r'\\".*$'), ""),
]


def roff_paragraphs(text):
    """The prose of a roff manual page: text lines joined into paragraphs; requests, examples and tables dropped."""
    paragraphs, current, skip = [], [], False
    for line in text.splitlines():
        if line.startswith((".EX", ".nf", ".TS", ".de")):
            skip = True
        elif line.startswith((".EE", ".fi", ".TE", "..")):
            skip = False
        if line.startswith((".", "'")):
            if line[1:3] in ("B ", "I ") or line[1:4] in ("BR ", "IR ", "RB ", "RI ", "BI ", "IB "):
                if not skip:
                    current.append(re.sub(r'"', "", line.split(" ", 1)[1]) if " " in line else "")
                continue
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if skip:
            continue
        for pattern, replacement in _ROFF_ESCAPES:
            line = pattern.sub(replacement, line)
        current.append(line.strip())
    if current:
        paragraphs.append(" ".join(current))
    return [" ".join(p.split()) for p in paragraphs if p.strip()]


def read_paragraphs(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    if "/man/" in path:
        return roff_paragraphs(text)
    if path.endswith((".html", ".xhp", ".htm")):
        parser = _TextExtractor()
        parser.feed(text)
        return parser.close()
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]


def is_french_sentence(sentence, min_words=5, max_words=60):
    words = _WORD.findall(sentence)
    if not min_words <= len(words) <= max_words:
        return False
    letters = sum(c.isalpha() for c in sentence)
    if letters < 0.75 * len(sentence.replace(" ", "")) or sentence[-1] not in ".!?:»)":
        return False
    lower = [w.lower() for w in words]
    french = sum(w in FRENCH_WORDS for w in lower)
    english = sum(w in ENGLISH_WORDS for w in lower)
    return french >= 2 and french > 2 * english and not re.search(r"[{}<>=$#|]|\\|/\w+/", sentence)


def held_out_translations():
    """French msgstrs of the machine's message catalogues (bench_french.py's translation pairs), normalised."""
    held = set()
    for path in glob.glob("/usr/share/locale/fr/LC_MESSAGES/*.mo"):
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception:  # noqa: BLE001 (a broken catalogue is just not a source)
            continue
        held.update(_key(v) for v in catalog.values() if isinstance(v, str))
    return held


def _key(sentence):
    return " ".join(sentence.lower().split())


def build(sources=SOURCES, limit=None, seed=0):
    """`(sentences, counts)`: deduplicated French sentences in a seeded shuffled order, and how many per package."""
    held, seen, sentences, counts = held_out_translations(), set(), [], collections.Counter()
    for package, patterns in sources.items():
        files = sorted({p for pattern in patterns for p in glob.glob(pattern, recursive=True)})
        if not files:
            print(f"{package}: not installed (apt-get install {package}); skipped", file=sys.stderr)
            continue
        for path in files:
            for paragraph in read_paragraphs(path):
                for sentence in _SENTENCE_END.split(paragraph):
                    sentence = sentence.strip()
                    key = _key(sentence)
                    if key in seen or key in held or not is_french_sentence(sentence):
                        continue
                    seen.add(key)
                    sentences.append(sentence)
                    counts[package] += 1
    random.Random(seed).shuffle(sentences)
    return (sentences[:limit] if limit else sentences), counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output file, one sentence a line (.gz: gzip)")
    parser.add_argument("--min-sentences", type=int, default=100_000, help="fail below this many (default 100000)")
    parser.add_argument("--limit", type=int, default=None, help="keep at most this many (after shuffling)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sentences, counts = build(limit=args.limit, seed=args.seed)
    for package, n in counts.most_common():
        print(f"{package}: {n} sentences")
    if len(sentences) < args.min_sentences:
        raise SystemExit(
            f"only {len(sentences)} French sentences, fewer than --min-sentences {args.min_sentences}: install the "
            f"packages of the docstring (apt-get install {' '.join(SOURCES)})"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    opener = gzip.open if args.out.endswith(".gz") else open
    with opener(args.out, "wt", encoding="utf-8") as f:
        f.writelines(s + "\n" for s in sentences)
    print(f"{len(sentences)} deduplicated French sentences written to {args.out}")


if __name__ == "__main__":
    main()
