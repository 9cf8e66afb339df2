"""The batch import: extraction in worker processes, storing in input order, one article at a
time all-or-nothing, and a bad article reported while the others go on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testigo.errors import RefusedInputError
from testigo.records.batch import ArticleInput, find_articles, import_articles
from testigo.records.record import incident_record
from testigo.vault.service import Vault

from .conftest import ARTICLES, article, count_rows, unledgered_rows

NAMES = ["dayton-news.txt", "tucson-news.txt", "dayton-statement.txt"]


def test_results_come_back_in_input_order(vault: Vault) -> None:
    inputs = [ArticleInput(name=n, data=article(n)) for n in NAMES]
    summary = import_articles(vault, inputs, workers=2, actor="test:batch")
    assert [i.name for i in summary.items] == NAMES
    assert [i.index for i in summary.items] == [0, 1, 2]
    assert all(i.ok for i in summary.items)
    news, tucson, statement = (i.result for i in summary.items)
    assert news is not None and tucson is not None and statement is not None
    assert news.incident_created and tucson.incident_created
    # Stored in order: the statement finds the incident the news article made before it.
    assert statement.joined and statement.incident_id == news.incident_id
    assert news.source_id < tucson.source_id < statement.source_id
    record = incident_record(vault, news.incident_id)
    assert record["incident"]["status"] == "disputed"
    assert unledgered_rows(vault) == []
    assert summary.to_dict()["incidents_created"] == 2


def test_batch_matches_one_by_one_import(vault: Vault) -> None:
    """The same articles give the same record whether extracted inline or by workers."""
    inputs = [ArticleInput(name=n, data=article(n)) for n in NAMES]
    summary = import_articles(vault, inputs, workers=0, actor="test:batch")
    created = [i.result.created for i in summary.items if i.result is not None]
    assert created[0]["claims"] > 0 and created[2]["people"] >= 1
    again = import_articles(vault, inputs, workers=0, actor="test:batch")
    assert all(i.result is not None and i.result.duplicate for i in again.items)


def test_a_bad_article_is_reported_and_the_others_go_on(vault: Vault, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    inputs = [
        ArticleInput(name="news", data=article("dayton-news.txt")),
        ArticleInput(name=str(empty), path=empty),
        ArticleInput(name="binary", data=bytes(range(256)) * 64),
        ArticleInput(name="missing.txt", path=tmp_path / "missing.txt"),
        ArticleInput(name="tucson", data=article("tucson-news.txt")),
    ]
    summary = import_articles(vault, inputs, workers=2, actor="test:batch")
    assert [i.ok for i in summary.items] == [True, False, False, False, True]
    assert "nothing was stored" in (summary.items[1].error or "")
    assert "no such file" in (summary.items[3].error or "")
    counts = count_rows(vault)
    assert counts["source"] == 2 and counts["incident"] == 2
    assert unledgered_rows(vault) == []
    assert summary.to_dict()["failed"] == 3


def test_a_failure_while_storing_leaves_no_rows_of_that_article(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    import testigo.records.importer as importer
    from testigo.records.claims import assess

    calls = {"n": 0}

    def fails_second(*args: object, **kwargs: object) -> dict[str, int]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RefusedInputError("simulated failure while comparing claims")
        return assess(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "assess", fails_second)
    inputs = [ArticleInput(name=n, data=article(n)) for n in NAMES]
    summary = import_articles(vault, inputs, workers=0, actor="test:batch")
    assert [i.ok for i in summary.items] == [True, False, True]
    counts = count_rows(vault)
    assert counts["source"] == 2 and counts["incident"] == 1
    # The statement still joins the news article's incident; the failed article left nothing.
    third = summary.items[2].result
    assert third is not None and third.joined
    assert unledgered_rows(vault) == []


def test_find_articles_walks_folders(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    for name in ("b/2.html", "a.txt", "b/1.HTM", "notes.md"):
        (tmp_path / name).write_text("x")
    found = [Path(a.name).relative_to(tmp_path).as_posix() for a in find_articles([tmp_path])]
    assert found == ["a.txt", "b/1.HTM", "b/2.html"]


def test_cli_imports_a_folder_with_a_json_summary(run_main, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_main("init")[0] == 0
    folder = tmp_path / "articles"
    (folder / "more").mkdir(parents=True)
    (folder / "1-news.txt").write_bytes(article("dayton-news.txt"))
    (folder / "2-empty.txt").write_bytes(b"")
    (folder / "more" / "3-statement.txt").write_bytes(article("dayton-statement.txt"))
    (folder / "readme.md").write_text("not an article")
    code, out, _ = run_main("article", "import", str(folder), "--json", "--workers", "0")
    assert code == 1  # one article was refused
    summary = json.loads(out)
    assert summary["articles"] == 3 and summary["failed"] == 1
    assert summary["imported"] == 2 and summary["incidents_created"] == 1
    assert summary["joined"] == 1
    names = [Path(i["name"]).name for i in summary["items"]]
    assert names == ["1-news.txt", "2-empty.txt", "3-statement.txt"]
    assert [i["ok"] for i in summary["items"]] == [True, False, True]
    assert "nothing was stored" in summary["items"][1]["error"]
    assert summary["items"][2]["incident_id"] == summary["items"][0]["incident_id"]

    code, out, _ = run_main("verify", "--json")
    assert code == 0 and json.loads(out)["ok"]


def test_cli_imports_several_files(run_main) -> None:  # type: ignore[no-untyped-def]
    assert run_main("init")[0] == 0
    files = [str(ARTICLES / n) for n in NAMES]
    code, out, err = run_main("article", "import", *files, "--workers", "1")
    assert code == 0, err
    assert "3 articles" in out and "0 refused" in out
    code, out, _ = run_main("article", "import", *files, "--json", "--workers", "0")
    assert code == 0 and json.loads(out)["duplicates"] == 3
    code, _, err = run_main("article", "import", files[0], "-")
    assert code != 0 and "stdin" in err


def test_bulk_written_rows_get_their_own_ids(vault: Vault) -> None:
    """Rows written many to a statement carry the ids their ledger entries name."""
    from sqlalchemy import select

    from testigo.db.models import LedgerEntry
    from testigo.records import models as m

    inputs = [ArticleInput(name=n, data=article(n)) for n in NAMES]
    import_articles(vault, inputs, workers=0, actor="test:batch")
    with vault.reading() as session:
        params: dict[str, dict[str, object]] = {}
        for entry in session.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)):
            body = json.loads(entry.body)
            for subject in body["subjects"]:
                params.setdefault(subject, body["params"])
        claims = list(session.scalars(select(m.Claim)))
        assert len(claims) > 20
        for claim in claims:
            assert params[f"claim:{claim.id}"]["key"] == claim.key
            assert params[f"claim:{claim.id}"]["citation"]["start"] == claim.cite_start  # type: ignore[index]
        for event in session.scalars(select(m.Event)):
            assert params[f"event:{event.id}"]["description"] == event.description
        for role in session.scalars(select(m.PersonRole)):
            assert params[f"person_role:{role.id}"]["role"] == role.role
            assert f"person:{role.person_id}" in params
        for quote in session.scalars(select(m.Quote)):
            assert params[f"quote:{quote.id}"]["text"] == quote.text
