"""A conversion's output is written through a staging directory: moved in whole, or not at all."""

from __future__ import annotations

import os

import pytest

from mathpe_jax.convert import ConversionError
from mathpe_jax.convert.output import staged

WRITTEN = ("config.json", "model.safetensors", "model-*-of-*.safetensors")


def contents(directory) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def leftovers(out) -> list:
    return sorted(out.parent.glob(f".{out.name}.tmp-*"))


def test_a_new_out_appears_only_once_complete(tmp_path):
    out = tmp_path / "deep" / "out"
    with staged("--out", out, WRITTEN, overwrite=False) as new:
        (new / "config.json").write_text("new")
        assert not out.exists()
    assert contents(out) == {"config.json": "new"} and not leftovers(out)


def test_overwrite_replaces_what_a_conversion_writes_and_keeps_the_rest(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in {"config.json": "old", "model-00001-of-00002.safetensors": "stale", "notes.txt": "mine"}.items():
        (out / name).write_text(text)
    with staged("--out", out, WRITTEN, overwrite=True) as new:
        (new / "config.json").write_text("new")
        (new / "model.safetensors").write_text("new")
    assert contents(out) == {"config.json": "new", "model.safetensors": "new", "notes.txt": "mine"}
    assert not leftovers(out)


def test_a_rename_that_fails_midway_puts_everything_back(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "config.json").write_text("old")
    (out / "notes.txt").write_text("mine")
    calls = []

    def replace(src, dst):
        calls.append(src)
        if len(calls) == 3:  # the old config.json set aside, the first new file moved in
            raise OSError(28, "No space left on device")
        os.rename(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="No space left"):
        with staged("--out", out, WRITTEN, overwrite=True) as new:
            (new / "config.json").write_text("new")
            (new / "model.safetensors").write_text("new")
    assert contents(out) == {"config.json": "old", "notes.txt": "mine"} and not leftovers(out)


def test_a_staged_file_never_replaces_one_a_conversion_does_not_write(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConversionError, match=f"--out={out} holds notes.txt, which a conversion does not replace"):
        with staged("--out", out, WRITTEN, overwrite=True) as new:
            (new / "notes.txt").write_text("new")
    assert contents(out) == {"notes.txt": "mine"} and not leftovers(out)
