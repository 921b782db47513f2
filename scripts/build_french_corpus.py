"""A French sentence corpus (one sentence a line, deduplicated) from Debian packages' French documentation.

    apt-get install -y --no-install-recommends manpages-fr manpages-fr-dev debian-reference-fr \\
        debian-edu-doc-fr debian-edu-doc-legacy-fr developers-reference-fr maint-guide-fr debian-faq-fr \\
        gimp-help-fr libreoffice-help-fr debian-handbook lilypond-doc-html-fr aptitude-doc-fr gosa-help-fr \\
        scilab-doc-fr ubuntu-packaging-guide-html-fr texworks-help-fr debian-history installation-guide-amd64 \\
        eyes17-manuals-fr
    python scripts/build_french_corpus.py --out data/french_sentences.txt.gz \\
        --heldout-out data/french_sentences_heldout.txt.gz

Sources (`SOURCES`: each package's French files, read where it installs them
and, on a Debian system, only the files its dpkg list names; a missing package
is named and skipped, and the run fails naming the `apt-get install` command
when fewer sentences than `--min-sentences` remain): the French manual pages
(`manpages-fr`, sections 1 and 4-8; `manpages-fr-dev`, sections 2 and 3;
roff), and the HTML manuals of Debian Reference, the Debian Edu manuals
(current and legacy), the Developers' Reference, the New Maintainers' Guide,
the Debian FAQ, GIMP's and LibreOffice's help, the Debian Administrator's
Handbook, LilyPond's and aptitude's manuals, GOsa²'s help, Scilab's help (a
jar of HTML pages), the Ubuntu Packaging Guide, TeXworks' help, the history
of the Debian project, the Debian installation guide (amd64) and the
ExpEYES-17 manual (an EPUB). KiCad's
`fr` help and LinuxCNC's `_fr` PDFs are English (untranslated): left out.

Markup, code blocks and command lines are dropped; the prose is cut into
sentences; a sentence is kept when it has 8 to 60 words, ends as a sentence
does, is mostly letters, holds no code (braces, `<>`, `=`, `$`, `#`, `|`,
backslashes, `/paths/`, no command and option opening it), reads as French (French function
words, no English ones dominating) and is new once lower-cased with its
spaces collapsed.

Held out, for evaluation:
- Sentences that are also a French translation in the machine's message
  catalogues (`/usr/share/locale/fr/LC_MESSAGES/*.mo`) are left out: those
  catalogues are `benchmarks/bench_french.py`'s translation and paraphrase
  pairs (which, given `--corpus`, also drop any text found in the corpus).
- `--heldout-percent` (default 2) of the sentences, chosen by a hash of
  their normalised text (`heldout(key)`: the first 8 hex digits of its SHA-1,
  mod 100, below the percentage; the same sentence falls on the same side on
  every machine), go to `--heldout-out` instead of `--out`: French prose
  never trained on. `--min-sentences` counts the training sentences.

Measured (Debian 12, all 20 packages, 108 French catalogues held out): 96,620 distinct sentences for
training, besides the 2 % held out by hash; short of the 100,000 `--min-sentences` asks (pass `--min-sentences 0` to
write them anyway). Largest: libreoffice-help-fr 25,003, manpages-fr-dev 18,057, manpages-fr 16,142,
lilypond-doc-html-fr 9,281, gimp-help-fr 9,071, scilab-doc-fr 4,027, debian-handbook 3,846.

The result feeds `data.source: text:PATH` (`recipes/simcse_unsup_e5_small_multilingual_french.yaml`).
"""

import argparse
import collections
import fnmatch
import gettext
import glob
import gzip
import hashlib
import html.parser
import os
import random
import re
import sys
import zipfile

SOURCES = {
    "manpages-fr": ["/usr/share/man/fr/man[14-9]/*.gz"],
    "manpages-fr-dev": ["/usr/share/man/fr/man[23]/*.gz"],
    "debian-reference-fr": ["/usr/share/debian-reference/*.fr.html"],
    "debian-edu-doc-fr": ["/usr/share/doc/debian-edu-doc-fr/**/*.html"],
    "debian-edu-doc-legacy-fr": ["/usr/share/doc/debian-edu-doc-legacy-fr/**/*.html"],
    "developers-reference-fr": ["/usr/share/developers-reference/fr/**/*.html"],
    "maint-guide-fr": ["/usr/share/doc/maint-guide-fr/html/*.fr.html"],
    "debian-faq-fr": ["/usr/share/doc/debian/FAQ/fr/*.html"],
    "gimp-help-fr": ["/usr/share/gimp/2.0/help/fr/**/*.html"],
    "libreoffice-help-fr": ["/usr/share/libreoffice/help/fr/**/*.html"],
    "debian-handbook": ["/usr/share/doc/debian-handbook/html/fr-FR/*.html"],
    "lilypond-doc-html-fr": ["/usr/share/doc/lilypond/html/Documentation/**/*.fr.html"],
    "aptitude-doc-fr": ["/usr/share/doc/aptitude/html/fr/*.html"],
    "gosa-help-fr": ["/usr/share/gosa/doc/core/fr/html/**/*.html"],
    "scilab-doc-fr": ["/usr/share/scilab/modules/helptools/jar/scilab_fr_FR_help.jar"],
    "ubuntu-packaging-guide-html-fr": ["/usr/share/doc/ubuntu-packaging-guide-html-fr/*.html"],
    "texworks-help-fr": ["/usr/share/texworks-help/fr/*.html"],
    "debian-history": ["/usr/share/doc/debian-history/docs/*.fr.html"],
    "installation-guide-amd64": ["/usr/share/doc/installation-guide-amd64/fr/*.html"],
    "eyes17-manuals-fr": ["/usr/share/doc/eyes17/fr/*.epub"],
}
DPKG_INFO = "/var/lib/dpkg/info"
FRENCH_WORDS = frozenset(
    "le la les un une des du de et est sont dans pour par sur avec qui que ne pas ce cette ces il elle ils "
    "vous nous on au aux se sa son ses leur leurs peut être fichier si lorsque".split()
)
ENGLISH_WORDS = frozenset("the and is are of to in for with this that be by from it on".split())
_SKIP_TAGS = {"pre", "code", "script", "style", "tt", "kbd", "samp", "screen", "programlisting", "title", "head"}
_SENTENCE_END = re.compile(r"(?<=[.!?»])\s+(?=[«\"(]?[A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ])")
# Code, markup, shell: braces, angle brackets, =, $, #, |, backslashes, /paths/, and a line opening with a
# command and its option ("ls -l ..."); an option named in prose ("l'option -l affiche ...") is kept.
_CODE = re.compile(r"[{}<>=$#|\\]|/\w+/|^[a-z][\w.-]*\s+--?[A-Za-z]")
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


def _html_paragraphs(text):
    parser = _TextExtractor()
    parser.feed(text)
    return parser.close()


def read_paragraphs(path):
    if path.endswith((".jar", ".epub")):  # Scilab's help, an EPUB book: zips of (X)HTML pages
        with zipfile.ZipFile(path) as jar:
            names = sorted(n for n in jar.namelist() if n.endswith((".html", ".xhtml", ".htm")))
            return [p for n in names for p in _html_paragraphs(jar.read(n).decode("utf-8", "replace"))]
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    if "/man/" in path:
        return roff_paragraphs(text)
    if path.endswith((".html", ".xhp", ".htm")):
        return _html_paragraphs(text)
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]


def is_french_sentence(sentence, min_words=8, max_words=60):
    words = _WORD.findall(sentence)
    if not min_words <= len(words) <= max_words:
        return False
    letters = sum(c.isalpha() for c in sentence)
    if letters < 0.75 * len(sentence.replace(" ", "")) or sentence[-1] not in ".!?:»)":
        return False
    lower = [w.lower() for w in words]
    french = sum(w in FRENCH_WORDS for w in lower)
    english = sum(w in ENGLISH_WORDS for w in lower)
    return french >= 2 and french > 2 * english and not _CODE.search(sentence)


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


def heldout(key, percent):
    """Whether a normalised sentence is held out: its SHA-1's first 8 hex digits, mod 100, below `percent`."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 100 < percent


def dpkg_files(package):
    """The files dpkg lists for an installed package (`None`: no dpkg list, not a Debian system or not installed)."""
    for name in (f"{package}.list", *sorted(os.path.basename(p) for p in glob.glob(f"{DPKG_INFO}/{package}:*.list"))):
        path = os.path.join(DPKG_INFO, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                return {line.rstrip("\n") for line in f}
    return None


def package_files(package, patterns):
    """A package's files matching its `SOURCES` patterns: those its dpkg list names (so that another package's
    French manual pages are not counted as this one's), or every match where dpkg keeps no list."""
    matches = {p for pattern in patterns for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)}
    listed = dpkg_files(package)
    if listed is not None:
        matches = {p for p in listed if os.path.isfile(p) and any(fnmatch.fnmatch(p, pt) for pt in patterns)} | (
            matches & listed
        )
    return sorted(matches)


def build(sources=SOURCES, limit=None, seed=0, heldout_percent=2):
    """`(sentences, held, counts, missing)`: deduplicated French sentences in a seeded shuffled order, those held
    out by `heldout`, how many each package gave, and the packages not installed."""
    catalogued, seen, sentences, held = held_out_translations(), set(), [], []
    counts, missing = collections.Counter(), []
    for package, patterns in sources.items():
        files = package_files(package, patterns)
        if not files:
            print(f"{package}: not installed (apt-get install -y {package}); skipped", file=sys.stderr)
            missing.append(package)
            continue
        for path in files:
            for paragraph in read_paragraphs(path):
                for sentence in _SENTENCE_END.split(paragraph):
                    sentence = sentence.strip()
                    key = _key(sentence)
                    if key in seen or key in catalogued or not is_french_sentence(sentence):
                        continue
                    seen.add(key)
                    (held if heldout(key, heldout_percent) else sentences).append(sentence)
                    counts[package] += 1
    random.Random(seed).shuffle(sentences)
    return (sentences[:limit] if limit else sentences), held, counts, missing


def _write(path, sentences):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as f:
        f.writelines(s + "\n" for s in sentences)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output file, one sentence a line (.gz: gzip)")
    parser.add_argument("--heldout-out", default=None, help="where the held-out sentences go (default: dropped)")
    parser.add_argument("--heldout-percent", type=float, default=2.0, help="percent held out by hash (default 2)")
    parser.add_argument("--min-sentences", type=int, default=100_000, help="fail below this many (default 100000)")
    parser.add_argument("--limit", type=int, default=None, help="keep at most this many (after shuffling)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.heldout_percent < 100:
        parser.error(f"--heldout-percent must be in [0, 100), received {args.heldout_percent}")
    print("reading: " + " ".join(SOURCES))
    sentences, held, counts, missing = build(limit=args.limit, seed=args.seed, heldout_percent=args.heldout_percent)
    for package, n in counts.most_common():
        print(f"{package}: {n} sentences")
    if len(sentences) < args.min_sentences:
        absent = f"; not installed: {' '.join(missing)}" if missing else ""
        raise SystemExit(
            f"only {len(sentences)} French training sentences, fewer than --min-sentences {args.min_sentences}"
            f"{absent}. Install the sources: apt-get install -y --no-install-recommends {' '.join(SOURCES)}"
        )
    _write(args.out, sentences)
    print(f"{len(sentences)} deduplicated French sentences written to {args.out}")
    if args.heldout_out:
        _write(args.heldout_out, held)
        print(f"{len(held)} held-out sentences ({args.heldout_percent:g}% by hash) written to {args.heldout_out}")
    else:
        print(f"{len(held)} held-out sentences ({args.heldout_percent:g}% by hash) left out")


if __name__ == "__main__":
    main()
