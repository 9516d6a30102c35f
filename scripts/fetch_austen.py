"""Rebuild src/mirrorneuron/data/corpora/austen.txt.gz from Debian's r-cran-janeaustenr package (offline).

    cd /tmp && apt-get download r-cran-janeaustenr && dpkg-deb -x r-cran-janeaustenr_*.deb x
    python scripts/fetch_austen.py /tmp/x/usr/lib/R/site-library/janeaustenr/data OUT.txt.gz

Needs `pip install rdata`. The R lazy-load database is a gzip'd index (.rdx) of zlib blobs in .rdb.
"""

import gzip
import sys
import zlib
from pathlib import Path

import rdata

BOOKS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]


def main(data_dir: str, out: str) -> None:
    d = Path(data_dir)
    index = rdata.conversion.convert(rdata.parser.parse_data(gzip.decompress((d / "Rdata.rdx").read_bytes())))
    blob = (d / "Rdata.rdb").read_bytes()
    books = []
    for name in BOOKS:
        off, length = (int(x) for x in index["variables"][name])
        lines = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(blob[off + 4 : off + length])))
        paras, cur = [], []
        for line in (str(x).strip() if x is not None else "" for x in lines):
            if line and line != "nan":
                cur.append(line)
            elif cur:
                paras.append(" ".join(cur))
                cur = []
        if cur:
            paras.append(" ".join(cur))
        books.append("\n".join(paras))
    with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as f:
        f.write("\n\n".join(books) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
