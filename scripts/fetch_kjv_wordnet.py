"""Rebuild src/mirrorneuron/data/corpora/{kjv,wordnet}.txt.gz from Debian packages (offline).

    cd /tmp && apt-get download bible-kjv bible-kjv-text wordnet-base
    for p in *.deb; do dpkg-deb -x "$p" x; done
    x/usr/bin/bible -p x/usr/lib gen1:1-rev22:21 > kjv-dump.txt
    python scripts/fetch_kjv_wordnet.py kjv-dump.txt x/usr/share/wordnet src/mirrorneuron/data/corpora

KJV: one document per book, one line per verse (verse numbers dropped). The text is public domain.
WordNet 3.0: one document per part of speech, one line per synset: ``lemma, lemma: gloss``. Licence: see
``src/mirrorneuron/data/corpora/WORDNET_LICENSE``.
"""

import gzip
import re
import sys
from pathlib import Path

VERSE = re.compile(r"^\s+\d+\s+(.*)$")
CHAPTER = re.compile(r"^(.+?)\s+\d+$")


def kjv(dump: Path) -> str:
    books: dict[str, list[str]] = {}
    book, verse = "", ""
    for line in dump.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        m = VERSE.match(line)
        if m:
            if verse:
                books[book].append(verse)
            verse = m.group(1).strip()
        elif line.startswith(" ") or not CHAPTER.match(line):
            verse += " " + line.strip()  # a wrapped verse line
        else:
            if verse:
                books[book].append(verse)
            verse = ""
            book = CHAPTER.match(line).group(1)  # type: ignore[union-attr]
            books.setdefault(book, [])
    if verse:
        books[book].append(verse)
    return "\n\n".join("\n".join(v) for v in books.values()) + "\n"


def wordnet(folder: Path) -> str:
    docs = []
    for pos in ("noun", "verb", "adj", "adv"):
        lines = []
        for line in (folder / f"data.{pos}").read_text(encoding="latin-1").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue  # the licence header
            head, gloss = line.split("|", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            lines.append(f"{', '.join(words)}: {gloss.strip()}")
        docs.append("\n".join(lines))
    return "\n\n".join(docs) + "\n"


def main(kjv_dump: str, wordnet_dir: str, out_dir: str) -> None:
    out = Path(out_dir)
    for name, text in (("kjv", kjv(Path(kjv_dump))), ("wordnet", wordnet(Path(wordnet_dir)))):
        with gzip.open(out / f"{name}.txt.gz", "wt", encoding="utf-8", compresslevel=9) as f:
            f.write(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
