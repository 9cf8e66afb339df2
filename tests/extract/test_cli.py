from __future__ import annotations

import json

from typer.testing import CliRunner

from testigo.cli_article import article_app

from .conftest import FIXTURES

runner = CliRunner()
ARTICLE = FIXTURES / "01-aurora-tiktok-arrest.txt"


def test_json_output() -> None:
    result = runner.invoke(article_app, ["extract", str(ARTICLE), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["location"]["city"] == "Aurora"
    assert data["published"] == "2024-06-04"
    assert data["text"].startswith("Video shows federal agents")


def test_stdin() -> None:
    result = runner.invoke(article_app, ["extract", "-", "--json"], input=ARTICLE.read_bytes())
    assert result.exit_code == 0
    assert json.loads(result.output)["agencies"]


def test_human_output() -> None:
    result = runner.invoke(article_app, ["extract", str(ARTICLE)])
    assert result.exit_code == 0
    assert "Dana Whitcombe" in result.output
    assert "Aurora" in result.output


def test_errors_are_clear() -> None:
    missing = runner.invoke(article_app, ["extract", "/nonexistent/file.txt"])
    assert missing.exit_code == 2
    assert "No such file" in missing.output
    binary = runner.invoke(article_app, ["extract", "-"], input=b"\x00\x01\x02\x03" * 100)
    assert binary.exit_code == 2
    assert "binary" in binary.output
    assert "Traceback" not in binary.output
