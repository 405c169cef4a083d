"""files: a replaced file is whole or untouched, and a file lock serialises read-modify-write."""

from __future__ import annotations

import threading

import pytest

from ganstudio.files import atomic_path, file_lock, write_text_atomically


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
