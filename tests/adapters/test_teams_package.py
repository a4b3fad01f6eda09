"""`tokenbot teams package`: the zip a Teams admin uploads (manifest.json and two icons)."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib

import pytest

from bot.cli import main
from bot.core.registry import registry
from bot.teams.package import MAX_COMMANDS, manifest

APP_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw RGBA rows (filter bytes removed) of one of our PNGs."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6)  # 8-bit RGBA
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * 4 + 1
    return width, height, b"".join(raw[r * stride + 1 : (r + 1) * stride] for r in range(height))


def test_the_package_command_writes_a_zip_ready_to_upload(tmp_path, capsys):
    output = tmp_path / "tokenbot.zip"
    status = main(
        ["teams", "package", "--app-id", APP_ID, "--host", "bot.acme.test", "--output", str(output)]
    )
    assert status == 0 and "Upload an app" in capsys.readouterr().out
    with zipfile.ZipFile(output) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        document = json.loads(archive.read("manifest.json"))
        color = png_pixels(archive.read("color.png"))
        outline = png_pixels(archive.read("outline.png"))
    assert document["manifestVersion"] == "1.19"
    assert document["$schema"].endswith("/v1.19/MicrosoftTeams.schema.json")
    assert document["id"] == APP_ID
    (bot,) = document["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    titles = [c["title"] for c in bot["commandLists"][0]["commands"]]
    assert {"balance", "estimate", "request", "policy"} <= set(titles)
    assert len(titles) <= MAX_COMMANDS
    assert all(len(c["description"]) <= 128 for c in bot["commandLists"][0]["commands"])
    assert document["validDomains"] == ["bot.acme.test"]
    assert document["icons"] == {"outline": "outline.png", "color": "color.png"}
    assert len(document["name"]["short"]) <= 30 and len(document["description"]["short"]) <= 80
    assert color[:2] == (192, 192)
    assert outline[:2] == (32, 32)
    pixels = [outline[2][i : i + 4] for i in range(0, len(outline[2]), 4)]
    assert {p for p in pixels} == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}  # white on clear
    opaque = [color[2][i + 3] for i in range(0, len(color[2]), 4)]
    assert set(opaque) == {255}


def test_the_app_id_falls_back_to_microsoft_app_id(tmp_path, monkeypatch):
    monkeypatch.setenv("MICROSOFT_APP_ID", APP_ID)
    output = tmp_path / "pkg.zip"
    assert main(["teams", "package", "--host", "bot.acme.test", "--output", str(output)]) == 0
    with zipfile.ZipFile(output) as archive:
        assert json.loads(archive.read("manifest.json"))["bots"][0]["botId"] == APP_ID


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--host", "bot.acme.test"], "give --app-id"),
        (["--app-id", APP_ID], "give --host"),
        (["--app-id", "tokenbot", "--host", "bot.acme.test"], "a GUID"),
        (["--app-id", APP_ID, "--host", "not a host"], "public host name"),
    ],
)
def test_a_package_without_a_usable_app_id_or_host_is_refused(
    tmp_path, monkeypatch, capsys, arguments, message
):
    monkeypatch.delenv("MICROSOFT_APP_ID", raising=False)
    monkeypatch.delenv("TOKENBOT_PUBLIC_HOST", raising=False)
    output = tmp_path / "pkg.zip"
    assert main(["teams", "package", *arguments, "--output", str(output)]) == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_the_host_may_be_given_as_a_url():
    document = manifest(APP_ID, "https://Bot.Acme.test/", registry)
    assert document["validDomains"] == ["bot.acme.test"]
    assert document["developer"]["websiteUrl"] == "https://bot.acme.test"
