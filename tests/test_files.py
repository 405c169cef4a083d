"""files: a replaced file is whole or untouched, and a file lock serialises read-modify-write."""

from __future__ import annotations

import threading

import pytest

from ganstudio.errors import UnsafePathError
from ganstudio.files import (
    atomic_path,
    copy_regular_file,
    file_lock,
    folder_size,
    trim_to_budget,
    write_text_atomically,
)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "status.json"
    write_text_atomically(path, "old")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]


def test_a_file_lock_keeps_read_modify_write_whole_across_threads(tmp_path):
    counter = tmp_path / "counter.txt"
    write_text_atomically(counter, "0")

    def add_one():
        for _ in range(25):
            with file_lock(counter):
                value = int(counter.read_text())
                write_text_atomically(counter, str(value + 1))

    threads = [threading.Thread(target=add_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.read_text() == "200"


def test_only_regular_files_of_a_bounded_size_are_copied(tmp_path):
    source = tmp_path / "G.onnx"
    source.write_bytes(b"x" * 100)
    assert copy_regular_file(source, tmp_path / "copy", max_bytes=100).read_bytes() == b"x" * 100
    with pytest.raises(UnsafePathError, match="over the limit"):
        copy_regular_file(source, tmp_path / "big", max_bytes=99)
    with pytest.raises(UnsafePathError, match="not a regular file"):
        copy_regular_file("/dev/zero", tmp_path / "zeros", max_bytes=2**30)
    # procfs files say they are empty and are not: the copy stops at the limit instead of trusting the size
    with pytest.raises(UnsafePathError, match="grew over the limit"):
        copy_regular_file("/proc/self/environ", tmp_path / "environ", max_bytes=1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["G.onnx", "copy"]


def test_a_folder_is_trimmed_to_its_budget_oldest_first(tmp_path):
    import os

    for index, name in enumerate(["old", "middle", "new"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "data").write_bytes(b"x" * 1000)
        os.utime(tmp_path / name, (index, index))
    removed = trim_to_budget(tmp_path, 2000, keep=[tmp_path / "old"])
    assert [path.name for path in removed] == ["middle"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["new", "old"] and folder_size(tmp_path) == 2000
