"""Compile the translation catalogs: locale/<lang>/LC_MESSAGES/django.po → django.mo.

The .mo files are build output (never committed, see .gitignore); bin/dev runs this on every command,
and it compiles only the catalogs whose .po is newer than their .mo (or has none):

    python -m sesconsole.catalogs [--force]

After changing user-facing text, update the catalogs from the source, translate the new entries
(tests/test_i18n.py fails on any entry without a Japanese or Chinese translation), then compile:

    python -m sesconsole.catalogs --update

With GNU gettext's msgfmt on the machine it is Django's compilemessages (msgfmt --check-format);
without it, polib writes the .mo files (a pure-Python fallback for fresh machines).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
LANGUAGES = ("ja", "zh_Hans")
# What makemessages must not read: other projects' code, build output, tests and benchmarks.
MAKEMESSAGES_IGNORE = [
    ".venv", "venv", "node_modules", "var", "staticfiles", ".git", "*/site-packages",
    "tests", "*/tests", "bench", "*/migrations", "test-output",
]


def catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    return sorted(locale_dir.glob("*/LC_MESSAGES/*.po"))


def stale(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """The .po files whose .mo is missing or older."""
    out = []
    for po in catalogs(locale_dir):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            out.append(po)
    return out


def compile_catalogs(locale_dir: Path = LOCALE_DIR, force: bool = False, use_msgfmt: bool | None = None) -> list[Path]:
    """Compile the stale catalogs (all with force); returns the .po files compiled."""
    todo = catalogs(locale_dir) if force else stale(locale_dir)
    if not todo:
        return []
    if use_msgfmt is None:
        use_msgfmt = shutil.which("msgfmt") is not None
    if use_msgfmt:
        _compile_with_django(todo)
    else:
        import polib

        for po in todo:
            polib.pofile(str(po)).save_as_mofile(str(po.with_suffix(".mo")))
    return todo


def _compile_with_django(todo: list[Path]) -> None:
    import django
    from django.conf import settings
    from django.core.management import call_command

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")
    if not settings.configured or not django.apps.apps.ready:
        django.setup()
    languages = sorted({po.parent.parent.name for po in todo})
    # compilemessages walks the working directory for locale/ folders: only ours, never .venv's.
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        call_command(
            "compilemessages", locale=languages, verbosity=0,
            ignore_patterns=[".venv", "venv", "node_modules", "var", ".git", "*/site-packages"],
        )
    finally:
        os.chdir(cwd)
    for po in todo:  # compilemessages leaves an up-to-date .mo alone; ours must be newer than the .po
        po.with_suffix(".mo").touch()


def make_messages(out_dir: Path | None = None, languages: tuple[str, ...] = LANGUAGES) -> Path:
    """Run makemessages over the project, into locale/ (merging the translations there), or into
    out_dir/locale from scratch (to compare with locale/): returns the folder written."""
    import django
    from django.core.management import call_command
    from django.test.utils import override_settings

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sesconsole.settings")
    django.setup()
    cwd = os.getcwd()
    try:
        if out_dir is None:
            os.chdir(ROOT)
            call_command(
                "makemessages", locale=list(languages), ignore_patterns=MAKEMESSAGES_IGNORE, no_obsolete=True,
                verbosity=0,
            )
            return LOCALE_DIR
        # makemessages writes next to the source it reads: give it a view of the project without
        # its locale/ (symbolic links), whose own locale/ is the scratch one.
        view = out_dir / "source"
        view.mkdir(parents=True)
        for entry in ROOT.iterdir():
            if entry.name != "locale" and not entry.name.startswith("."):
                (view / entry.name).symlink_to(entry)
        os.chdir(view)
        with override_settings(LOCALE_PATHS=[str(view / "locale")]):
            call_command(
                "makemessages", locale=list(languages), ignore_patterns=MAKEMESSAGES_IGNORE, symlinks=True,
                verbosity=0,
            )
        return view / "locale"
    finally:
        os.chdir(cwd)


def main(argv: list[str]) -> int:
    if "--update" in argv:
        make_messages()
    compiled = compile_catalogs(force="--force" in argv)
    for po in compiled:
        print(f"compiled {po.relative_to(ROOT).with_suffix('.mo')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
