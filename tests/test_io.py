import json

from srlm.core.io import RowWriter, read_jsonl


def test_row_writer_recovers_after_a_torn_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    w = RowWriter(path)
    w.write([{"id": 1}, {"id": 2}])
    w.close()
    with open(w.partial, "a") as f:
        f.write('{"id": 3, "te')  # a kill in the middle of a line
    w2 = RowWriter(path)
    assert [r["id"] for r in w2.rows] == [1, 2]
    w2.write([{"id": 3}])
    w2.finish()
    assert [r["id"] for r in read_jsonl(path)] == [1, 2, 3]
    assert not w.partial.exists()


def test_finished_file_appears_only_at_finish(tmp_path):
    path = tmp_path / "rows.jsonl"
    w = RowWriter(path)
    w.write([{"a": 1}])
    assert not path.exists()
    w.finish()
    assert json.loads(path.read_text()) == {"a": 1}
