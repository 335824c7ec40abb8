"""Command line: ``atlas build`` (also ``python build_report.py``) builds a study's site and paper;
``atlas predict --model DIR PHOTOS...`` names the faces of new photos (:mod:`report.predict`).

Every error (config, output folder, data) prints one ``error:`` line and exits 2 (``--debug``: traceback too). The installed command (``pip install .``)
uses the packaged demo config by default and writes into ``./atlas-demo`` so that it never
writes inside the installed package.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import threading
import traceback
import unicodedata
from pathlib import Path

from report.resources import configs_dir, is_source_checkout

COMMANDS = ("build", "predict", "check-devices")


def default_config() -> Path:
    return configs_dir() / "demo.toml"


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Compute every analysis of a study (embeddings, geometry, similarity, clustering, manifold maps, "
            "classifiers, audit) and render the MkDocs-Material site and the LaTeX paper. Work already done is "
            "reused from the cache: a second run with nothing changed recomputes nothing."
        ),
    )
    p.add_argument("--config", type=Path, default=None,
                   help="study config (TOML); default: the demo config (synthetic, offline)")
    p.add_argument("--output-dir", type=Path, default=None,
                   help="folder receiving docs/, site/, paper/ and mkdocs.yml (overrides [study] output_dir)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="embedding and analysis cache (overrides [study] cache_dir)")
    p.add_argument("--no-site", action="store_true", help="write docs/ but do not run mkdocs build")
    p.add_argument("--no-paper", action="store_true", help="do not write or compile the LaTeX paper")
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage lines")
    gpu = p.add_argument_group("devices", "check where extraction would run, then exit (builds nothing)")
    gpu.add_argument("--check-devices", action="store_true",
                     help="print each visible GPU, the provider each extraction session really uses and a warm-up "
                          "throughput; exit 1 when a GPU is visible but unusable")
    gpu.add_argument("--devices", default="auto", help="device request to check (auto, cpu, cuda, cuda:0,1)")
    gpu.add_argument("--model", type=Path, default=None, help="ArcFace ONNX recogniser to check (default: a probe net)")
    gpu.add_argument("--detector", type=Path, default=None, help="SCRFD ONNX detector to check as well")
    p.add_argument("--debug", action="store_true", help="on an error, print the full traceback too")
    return p


def parse_args(argv=None, prog: str = "build_report.py") -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:  # ``atlas build ...``; ``build`` is also the default command
        argv = (["--check-devices"] if argv[0] == "check-devices" else []) + argv[1:]
    args = build_parser(prog).parse_args(argv)
    if args.config is None:
        args.config = default_config()
        if not is_source_checkout():  # installed: never write next to the packaged config
            args.output_dir = args.output_dir or Path.cwd() / "atlas-demo"
            args.cache_dir = args.cache_dir or args.output_dir / ".cache"
    return args


def predict_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog} predict",
        description=(
            "Name the people in new photos with the recogniser a study build exported "
            "(<output_dir>/models/<dataset>-<network>): every face is detected, embedded and given the identity of "
            "the study's best classifier, or 'unknown' below the threshold calibrated on the study's impostors."
        ),
    )
    p.add_argument("--model", type=Path, required=True, help="recogniser folder (recognizer.json + recognizer.npz)")
    p.add_argument("--output", type=Path, default=None,
                   help="CSV to write (default: print the CSV); never an input photo or a file of the model folder")
    p.add_argument("--force", action="store_true", help="replace the --output file when it exists")
    p.add_argument("--devices", default=None,
                   help="where to run (auto, cpu, cuda, cuda:0); default: the study's setting, or the CPU when it "
                        "cannot be used here")
    p.add_argument("--debug", action="store_true", help="on an error, print the full traceback too")
    p.add_argument("photos", type=Path, nargs="+", help="photos or folders (searched recursively)")
    return p


def predict(args: argparse.Namespace) -> int:
    """``predict``: every failure is one ``error:`` line and exit 2, and nothing of the user's is changed by it."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from analysis.embedding.store import atomic_write_text
    from report.predict import check_output, collect_inputs, predict_photos, predictions_csv

    def warn(text: str) -> None:
        print(terminal_text(f"warning: {text}"), file=sys.stderr)

    try:
        inputs = collect_inputs(args.photos)
        if args.output is not None:
            check_output(args.output, inputs, args.model, args.force)
        table = predict_photos(args.model, inputs, devices=args.devices, warn=warn)
        text = predictions_csv(table)
        if args.output is None:
            sys.stdout.write(text)
            return 0
        try:
            atomic_write_text(args.output, text)  # temporary file + rename: the old file stays whole on failure
        except OSError as exc:
            raise ValueError(f"cannot write {str(args.output)!r} ({type(exc).__name__}: {exc.strerror or exc}); "
                             "nothing was changed") from None
    except KeyboardInterrupt:
        print("error: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns predict's errors into a message
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(terminal_text(f"error: {one_line(exc)}"), file=sys.stderr)
        return 2
    known = int((table["face_index"] >= 0).sum())
    say(f"{known} face(s) in {table['original_file'].nunique()} file(s) -> {args.output}")
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (or SIGHUP) received: unwinds the build exactly as Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, frame) -> None:
    import signal

    signal.signal(signum, signal.SIG_IGN)  # a second SIGTERM must not break the unwinding; kill -9 still works
    raise Terminated(signum)


@contextlib.contextmanager
def stop_signals_as_interrupts():
    """SIGTERM (and SIGHUP, unless ignored as under ``nohup``) raise :class:`Terminated` while building.

    Python's default for SIGTERM ends the process on the spot: no ``finally`` ran, so the staging
    folders stayed, and the loky workers and their resource trackers lived on holding the build's
    stdout. As a KeyboardInterrupt, a termination goes through the same unwinding as Ctrl-C: joblib
    stops its workers, the driver removes its staging folders, the locks are released.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread only
        yield
        return
    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is None or (name == "SIGHUP" and signal.getsignal(signum) == signal.SIG_IGN):
            continue
        previous[signum] = signal.signal(signum, _terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def build(args: argparse.Namespace) -> int:
    """Run :func:`_build`; every error ends as one ``error:`` line (exit 2), the traceback only with ``--debug``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with stop_signals_as_interrupts():
            return _build(args)
    except Terminated as exc:
        import signal

        print(f"error: stopped by {signal.Signals(exc.signum).name}; the previous outputs are kept (nothing "
              f"half-written was published)", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("error: interrupted; the previous outputs are kept (nothing half-written was published)",
              file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the CLI's one place that turns errors into messages
        debug = getattr(args, "debug", False)
        if debug:
            traceback.print_exc()
        hint = "" if debug or _is_user_error(exc) else " (run with --debug for the traceback)"
        print(terminal_text(f"error: {one_line(exc)}{hint}"), file=sys.stderr)
        return 2


def _is_user_error(exc: BaseException) -> bool:
    """Errors whose message is the whole story (the config, the output folder, a lock)."""
    from analysis.config import ConfigError
    from report.disk import DiskFullError
    from report.locks import BuildLockedError
    from report.ownership import OutputFolderError

    return isinstance(exc, (ConfigError, OutputFolderError, BuildLockedError, DiskFullError))


def terminal_text(text: object) -> str:
    """Text safe to print on a terminal: control and format characters (ESC sequences, bidi
    overrides) of names are shown as ``\\uXXXX`` instead of acting on the terminal."""
    return "".join(c if c == " " or unicodedata.category(c) not in ("Cc", "Cf") else f"\\u{ord(c):04x}"
                   for c in str(text))


def say(text: object) -> None:
    print(terminal_text(text))


def one_line(exc: BaseException) -> str:
    """The error message on one line (multi-line messages such as a latexmk log tail are joined)."""
    text = " | ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return text or type(exc).__name__


def _build(args: argparse.Namespace) -> int:
    from analysis.config import load_config

    config = load_config(args.config, overrides={"output_dir": args.output_dir, "cache_dir": args.cache_dir})
    from report.console import output_state, skip_summary
    from report.driver import run
    from report.format import plural
    from report.model import Page
    from report.site import page_file

    results, outputs, build_log = run(
        config,
        progress=not args.quiet,  # bars on a terminal, plain lines otherwise (report.progress)
        build_site=False if args.no_site else None,
        build_paper=False if args.no_paper else None,
    )  # a ConfigError found while running (names_file naming undiscovered clusters) ends in build(): exit 2
    say(f"Study: {config.study.title} ({config.source})")
    say(f"  cells analysed: {len(results.cells)}; computed {plural(len(build_log.computed), 'item')}, "
          f"reused {len(build_log.reused)} from cache")
    for item in build_log.computed:
        say(f"    computed: {item}")
    site_on = config.study.build_site and not args.no_site
    paper_on = config.study.build_paper and not args.no_paper
    say(f"  figures: {outputs.figures_drawn} drawn, {outputs.figures_reused} reused; "
          f"{output_state('site', site_on, outputs.site_rebuilt)}; "
          f"{output_state('paper', paper_on, outputs.paper_rebuilt)}")
    for line in skip_summary(results.inputs, lambda name: page_file(Page(path=("data", name), title=name))):
        say(line)
    for w in build_log.warnings:
        say(f"  warning: {w}")
    for note in getattr(build_log, "notes", ()):
        say(f"  note: {note}")
    say(f"  time: {build_log.timings['total']:.1f} s")
    for folder in build_log.review:
        say(f"  review: {folder} (aligned faces, one folder per discovered cluster; local only)")
    for folder in build_log.models:
        say(f"  model: {folder} (for: {Path(sys.argv[0]).name} predict --model {folder} PHOTOS...)")
    say(f"  docs:  {outputs.docs_dir}")
    if outputs.site_index is not None:
        say(f"  site:  {outputs.site_index}")
    if outputs.pdf is not None:
        say(f"  paper: {outputs.pdf}")
    return 0


def main(argv=None, prog: str = "atlas") -> int:
    """Entry point of the ``atlas`` console command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "predict":
        return predict(predict_parser(prog).parse_args(argv[1:]))
    args = parse_args(argv, prog=prog)
    if args.check_devices:
        from analysis.embedding.device_check import check_devices

        return check_devices(args.devices, args.model, args.detector)
    return build(args)
