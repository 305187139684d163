"""stack.admintoken: a token file a careless or hostile drill names is refused with one line naming
the file (never the token), and never blocks: a FIFO or a device would hang the drill and its leftover
cleanup."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from stack.admintoken import MAX_TOKEN_FILE_BYTES, admin_token, read_token_file
from stack.runtime import StackError


def _refusal(path: Path) -> str:
    """The refusal of ``path``, read in a thread so a blocking read fails the test instead of hanging it."""
    said: list[str] = []

    def read() -> None:
        try:
            read_token_file(path)
        except StackError as exc:
            said.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # unblock the reader (a writer opens the FIFO), then fail
        with open(path, "wb"):
            pass
        pytest.fail(f"reading {path} blocked")
    assert said, f"{path} was taken as a token"
    return said[0]


def test_a_token_file_that_is_no_token_is_refused_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "huge").write_bytes(b"a" * (MAX_TOKEN_FILE_BYTES + 1))
    (tmp_path / "two-lines").write_text("abc\ndef\n")
    (tmp_path / "spaces").write_text("abc def\n")
    cases = {
        tmp_path / "missing": "cannot read it (No such file or directory)",
        folder: "not a regular file",
        fifo: "not a regular file",
        Path("/dev/zero"): "not a regular file",
        tmp_path / "empty": "the admin token is empty",
        tmp_path / "huge": f"over {MAX_TOKEN_FILE_BYTES} bytes, not a token",
        tmp_path / "two-lines": "holds more than one line",
        tmp_path / "spaces": "characters a bearer token cannot carry",
    }
    for path, message in cases.items():
        said = _refusal(path)
        assert said.startswith(f"admin token file {path}: "), said
        assert message in said, said
    assert "abc" not in _refusal(tmp_path / "spaces")  # never the token itself


def test_the_file_wins_and_without_either_the_error_says_where_to_put_it(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  from-the-file \n")
    assert admin_token(token_file, {"CRASHLAB_ADMIN_TOKEN": "from-env"}) == (
        "from-the-file",
        f"the file {token_file}",
    )
    assert admin_token(None, {"CRASHLAB_ADMIN_TOKEN": " from-env "}) == ("from-env", "$CRASHLAB_ADMIN_TOKEN")
    unset = r"no admin token: export CRASHLAB_ADMIN_TOKEN .*target\.admin_token_file"
    for env in ({}, {"CRASHLAB_ADMIN_TOKEN": "  "}):
        with pytest.raises(StackError, match=unset):
            admin_token(None, env)
