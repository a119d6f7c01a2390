"""Regenerate the README's generated sections, so nothing is written twice.

- between `<!-- settings:start -->` and `<!-- settings:end -->`: the settings
  table, from `device.config.settings_markdown()` (the one settings schema);
- between `<!-- api:start -->` and `<!-- api:end -->`: the web routes, from the
  Flask app's own URL map and each view's one-line docstring.

    python scripts/gen_readme_settings.py          # rewrite README.md
    python scripts/gen_readme_settings.py --check  # exit 1 if README.md is stale
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # for `python scripts/gen_readme_settings.py`
    sys.path.insert(0, str(REPO))

README = REPO / "README.md"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def settings_block() -> str:
    from device.config import settings_markdown

    return settings_markdown()


def _summary(view) -> str:
    doc = (getattr(view, "__doc__", None) or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def api_block() -> str:
    """One row per route and method set, pages first, then /api; static files left out."""
    from device.config import load_config
    from device.webui import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        config = load_config(overrides={"storage.data_dir": data_dir, "web.pin": ""})
        app = create_app(config, test_config={"TESTING": True, "SECRET_KEY": "readme"})
        rows = []
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
                continue
            methods = ", ".join(sorted(set(rule.methods or ()) - IGNORED_METHODS))
            view = app.view_functions[rule.endpoint]
            rows.append((rule.rule.startswith("/api/"), rule.rule, methods, _summary(view)))
    rows.sort()
    lines = ["| method | path | what it does |", "|---|---|---|"]
    for _, path, methods, summary in rows:
        cells = [methods, f"`{path}`", summary]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


GENERATORS = {"settings": settings_block, "api": api_block}


def render(text: str, blocks: dict[str, str]) -> str:
    """text with each marked section replaced by its block; a missing marker is an error."""
    for name, block in blocks.items():
        pattern = re.compile(
            rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise SystemExit(f"README.md has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        text = pattern.sub(lambda m, block=block: m.group(1) + block + m.group(2), text, count=1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether README.md is up to date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)

    current = args.readme.read_text(encoding="utf-8")
    wanted = render(current, {name: make() for name, make in GENERATORS.items()})
    if wanted == current:
        print(f"{args.readme}: up to date")
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(
            current.splitlines(True), wanted.splitlines(True), "README.md", "generated"))
        print(f"{args.readme} is stale: run `make readme`", file=sys.stderr)
        return 1
    from device.storage import atomic_write_text

    atomic_write_text(args.readme, wanted)
    print(f"{args.readme}: regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
