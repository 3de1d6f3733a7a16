#!/usr/bin/env python3
"""Generates choreo_controller/render/cel-parser.lark: the CEL parser, built, as the package ships it.

``render.grammar`` derives its grammar from celpy's ``cel.lark`` and builds an LALR parser from it; the
table construction takes a few hundred milliseconds at every start. This writes the built parser
(``Lark.save``) after one line holding ``grammar.parser_key`` - a digest of the grammar text, the options
and lark's version - so the package loads it instead while that key still matches. Rerun it after a change
to the grammar edits, an upgrade of cel-python or of lark (``tests/unit/test_render_grammar.py`` fails
until then).

Usage: hack/gen-cel-parser.py [--check]   (--check: exit 1 if the committed file is out of date)
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from choreo_controller.render import grammar  # noqa: E402 - after the path set-up

OUT = ROOT / "choreo_controller" / "render" / grammar.PARSER_FILE


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is out of date")
    args = parser.parse_args()
    text = grammar.grammar_text()
    wanted = grammar.parser_key(text)
    if args.check:
        if grammar.shipped(wanted) is None:
            sys.stderr.write(f"{OUT.relative_to(ROOT)} is out of date: run hack/gen-cel-parser.py\n")
            return 1
        return 0
    saved = io.BytesIO()
    grammar.build(text).save(saved)
    OUT.write_bytes(wanted.encode() + b"\n" + saved.getvalue())
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
