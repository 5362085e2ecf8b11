"""Tests of the command-line protocol: validate before run, exit 2 on bad values, 130 on Ctrl-C.

A fake command module is registered in `tinygrad_nn.cli.COMMANDS` (and sys.modules), so the
protocol is tested without running the real commands.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tinygrad_nn import cli
from tinygrad_nn._files import check_output_file, prepare_output_folder

ROOT = Path(__file__).resolve().parents[1]


class Fake:
    """What the fake command did, and what it should do."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_validate: BaseException | None = None
        self.fail_run: BaseException | None = None


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Fake:
    state = Fake()
    module = types.ModuleType("tinygrad_nn_fake_command")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--out", type=Path, default=Path("out"))
        parser.add_argument("--count", type=int, default=1)

    def validate(args: argparse.Namespace) -> None:
        state.calls.append("validate")
        if state.fail_validate is not None:
            raise state.fail_validate
        if args.count < 1:
            raise ValueError(f"--count must be >= 1, got {args.count}")
        args.out = prepare_output_folder(args.out)

    def run(args: argparse.Namespace) -> int:
        state.calls.append("run")
        if state.fail_run is not None:
            raise state.fail_run
        return args.count - 1

    module.add_arguments, module.validate, module.run = add_arguments, validate, run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.COMMANDS, "fake", (module.__name__, "a command for tests"))
    return state


def test_validate_runs_before_run(fake: Fake, tmp_path: Path) -> None:
    assert cli.main(["fake", "--out", str(tmp_path / "a" / "b"), "--count", "3"]) == 2
    assert fake.calls == ["validate", "run"]
    assert (tmp_path / "a" / "b").is_dir(), "the command line creates a missing output folder"


def test_a_value_error_from_validate_is_one_line_and_exit_2(
    fake: Fake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["fake", "--out", str(tmp_path), "--count", "0"]) == 2
    assert fake.calls == ["validate"], "no work after a failed validate"
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "tinygrad-nn fake: error: --count must be >= 1, got 0\n"

    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["fake", "--out", str(blocker / "sub")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("tinygrad-nn fake: error: --out ") and "cannot write" in line


def test_other_errors_from_validate_are_not_hidden(fake: Fake, tmp_path: Path) -> None:
    fake.fail_validate = TypeError("a bug in the command")
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["fake", "--out", str(tmp_path)])


def test_errors_from_run_keep_their_traceback(fake: Fake, tmp_path: Path) -> None:
    fake.fail_run = ValueError("during the work")
    with pytest.raises(ValueError, match="during the work"):
        cli.main(["fake", "--out", str(tmp_path)])


@pytest.mark.parametrize("where", ["validate", "run"])
def test_ctrl_c_prints_one_line_and_exits_130(
    fake: Fake, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    setattr(fake, f"fail_{where}", KeyboardInterrupt())
    assert cli.main(["fake", "--out", str(tmp_path)]) == 130
    assert capsys.readouterr().err == "tinygrad-nn fake: interrupted\n"


def test_commands_without_validate_just_run(
    fake: Fake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delattr(sys.modules["tinygrad_nn_fake_command"], "validate")
    assert cli.main(["fake", "--out", str(tmp_path), "--count", "1"]) == 0
    assert fake.calls == ["run"]


def test_argparse_errors_exit_2(fake: Fake, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["fake", "--count", "many"])
    assert caught.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err
    assert fake.calls == []
    with pytest.raises(SystemExit) as caught:
        cli.main(["no-such-command"])
    assert caught.value.code == 2


SLOW_COMMAND = """
import sys, time, types
from tinygrad_nn import cli
module = types.ModuleType("slow")
module.add_arguments = lambda parser: None
def run(args):
    print("ready", flush=True)
    time.sleep(60)
module.run = run
sys.modules["slow"] = module
cli.COMMANDS["slow"] = ("slow", "sleeps")
sys.exit(cli.main(["slow"]))
"""


def test_a_real_sigint_exits_130_without_a_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_COMMAND],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err == "tinygrad-nn slow: interrupted\n"


# ------------------------------------------------------------------------ the output rule


def test_prepare_output_folder(tmp_path: Path) -> None:
    folder = prepare_output_folder(str(tmp_path / "new" / "nested"))
    assert folder == tmp_path / "new" / "nested" and folder.is_dir()
    assert prepare_output_folder(folder) == folder  # an existing folder is fine
    assert sorted(p.name for p in folder.iterdir()) == [], "the write test leaves nothing"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"^--out '.*file' exists and is not a folder$"):
        prepare_output_folder(tmp_path / "file")
    with pytest.raises(ValueError, match=r"^--plots '.*file/sub': cannot write into this folder"):
        prepare_output_folder(tmp_path / "file" / "sub", option="--plots")


def test_prepare_output_folder_refuses_an_unwritable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writability is tested by writing (root ignores mode bits, so simulate the refusal)."""
    import tempfile

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(ValueError, match=r"cannot write into this folder: Permission denied$"):
        prepare_output_folder(tmp_path)


def test_check_output_file(tmp_path: Path) -> None:
    target = check_output_file(tmp_path / "reports" / "bench.json", option="--json")
    assert target == tmp_path / "reports" / "bench.json"
    assert target.parent.is_dir() and not target.exists()
    with pytest.raises(ValueError, match=r"^--json '.*reports' is a folder; give a file name$"):
        check_output_file(tmp_path / "reports", option="--json")
    target.write_text("{}")
    target.chmod(0o444)
    with pytest.raises(ValueError, match=r"^--json '.*bench.json' is read-only"):
        check_output_file(target, option="--json")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"^--out '.*file/x.svg': its folder '.*file' exists"):
        check_output_file(tmp_path / "file" / "x.svg")
