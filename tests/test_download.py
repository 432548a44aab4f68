"""The downloader against a local HTTP server: resume, restart, checksums, and unsafe archives."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from colorlab.data import archives as dl
from colorlab.data.photo_files import find_images
from colorlab.download import run_download
from tests.conftest import compose_app


def cat_zip(folder: str, n: int, extra: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out like the CAT dataset: CAT_0k/<id>.jpg with a .jpg.cat landmark file each."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for i in range(n):
            img = io.BytesIO()
            Image.fromarray(np.full((24, 24, 3), (40 * i % 255, 120, 200), np.uint8)).save(img, "JPEG")
            zf.writestr(f"{folder}/{i:08d}_000.jpg", img.getvalue())
            zf.writestr(f"{folder}/{i:08d}_000.jpg.cat", "9 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


class Server:
    """Serves `files`; can cut the first response of a path short, and can ignore Range headers."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.truncate_once: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path, rng = self.path, self.headers.get("Range")
                server.requests.append((path, rng))
                if path not in server.files:
                    self.send_error(404)
                    return
                data, start = server.files[path], 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").rstrip("-"))
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if path in server.truncate_once:
                    server.truncate_once.discard(path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def files_xml(self) -> bytes:
        rows = "".join(
            f'<file name="{name[1:]}" source="original"><size>{len(data)}</size>'
            f"<md5>{hashlib.md5(data).hexdigest()}</md5></file>"
            for name, data in self.files.items()
            if name.endswith(".zip")
        )
        return f'<?xml version="1.0"?><files>{rows}</files>'.encode()


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    srv.files["/CAT_DATASET_01.zip"] = cat_zip("CAT_00", 6)
    srv.files["/CAT_DATASET_02.zip"] = cat_zip("CAT_01", 5)
    srv.files["/CAT_DATASET_files.xml"] = srv.files_xml()
    source = dl.DatasetSource(
        archives=(dl.Archive(f"{srv.url}/CAT_DATASET_01.zip"), dl.Archive(f"{srv.url}/CAT_DATASET_02.zip")),
        checksums_url=f"{srv.url}/CAT_DATASET_files.xml",
    )
    monkeypatch.setitem(dl.DATASETS, "cat_dataset", source)
    yield srv
    srv.httpd.shutdown()


def test_downloads_verifies_and_extracts_the_cat_layout(server, tmp_path):
    root = dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    files = find_images(root)
    assert len(files) == 11 and {f.parent.name for f in files} == {"CAT_00", "CAT_01"}
    assert (root / dl.COMPLETE_MARKER).is_file() and not (root / ".downloads").exists()
    count = len(server.requests)
    dl.ensure_dataset("cat_dataset", root)  # finished: nothing is fetched again
    assert len(server.requests) == count


def test_a_truncated_download_resumes_with_a_range_request(server, tmp_path):
    server.truncate_once.add("/CAT_DATASET_01.zip")
    dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    size = len(server.files["/CAT_DATASET_01.zip"])
    ranges = [rng for path, rng in server.requests if path == "/CAT_DATASET_01.zip"]
    assert ranges == [None, f"bytes={size // 2}-"]
    assert len(find_images(tmp_path / "cats")) == 11


def test_a_server_ignoring_range_makes_it_restart_cleanly(server, tmp_path):
    server.truncate_once.add("/CAT_DATASET_02.zip")
    server.ignore_range = True
    dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    assert len(find_images(tmp_path / "cats")) == 11


def test_a_partial_file_left_by_an_earlier_run_is_resumed(server, tmp_path):
    data = server.files["/CAT_DATASET_01.zip"]
    part = tmp_path / "cats" / ".downloads" / "CAT_DATASET_01.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:100])
    dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    assert ("/CAT_DATASET_01.zip", "bytes=100-") in server.requests


def test_checksum_mismatch_is_an_error_and_the_bad_file_is_deleted(server, tmp_path):
    server.files["/CAT_DATASET_files.xml"] = server.files_xml().replace(b"<md5>", b"<md5>0")
    with pytest.raises(dl.DownloadError, match=r"CAT_DATASET_01.zip: MD5 .* does not match"):
        dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    assert not list((tmp_path / "cats" / ".downloads").glob("*"))
    assert not (tmp_path / "cats" / dl.COMPLETE_MARKER).exists()


def test_wrong_size_is_an_error(server, tmp_path):
    url = f"{server.url}/CAT_DATASET_01.zip"
    with pytest.raises(dl.DownloadError, match="got [0-9]+ bytes, expected 5;"):
        dl.download(url, tmp_path / "a.zip", size=5)


def test_unreachable_server_keeps_the_partial_file_and_says_how_to_go_on(tmp_path, monkeypatch):
    source = dl.DatasetSource(archives=(dl.Archive("http://127.0.0.1:9/CAT_DATASET_01.zip"),))
    monkeypatch.setitem(dl.DATASETS, "cat_dataset", source)
    with pytest.raises(dl.DownloadError, match=r"could not download .*data=folder") as err:
        dl.ensure_dataset("cat_dataset", tmp_path / "cats")
    assert "nothing was downloaded" in str(err.value) and ".part" not in str(err.value)  # no file to name


def test_a_zip_with_a_parent_path_is_refused_whole(server, tmp_path):
    server.files["/CAT_DATASET_02.zip"] = cat_zip("CAT_01", 2, extra={"../../escaped.txt": b"owned"})
    server.files["/CAT_DATASET_files.xml"] = server.files_xml()
    with pytest.raises(dl.UnsafeArchiveError, match=r"'\.\./\.\./escaped.txt' would be written outside"):
        dl.ensure_dataset("cat_dataset", tmp_path / "data" / "cats")
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "data" / "cats" / "CAT_01").exists()  # nothing of that archive extracted


@pytest.mark.parametrize("name", ["/etc/evil.txt", "C:\\..\\evil.txt"])
def test_absolute_and_backslash_paths_are_refused(tmp_path, name):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(cat_zip("CAT_00", 1, extra={name: b"x"}))
    with pytest.raises(dl.UnsafeArchiveError):
        dl.safe_extract(archive, tmp_path / "out")


def test_a_corrupt_zip_is_deleted_with_a_clear_error(tmp_path):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(dl.DownloadError, match="bad.zip is not a valid zip"):
        dl.safe_extract(archive, tmp_path / "out")
    assert not archive.exists()


def test_command_line(server, tmp_path, capsys):
    run_download(compose_app("download", ["name=cat_dataset", f"root={tmp_path / 'cli'}"]))
    assert "ready" in capsys.readouterr().out
    assert len(find_images(tmp_path / "cli")) == 11


def test_unknown_dataset_is_named(tmp_path):
    with pytest.raises(ValueError, match="data.download='dogs'"):
        dl.ensure_dataset("dogs", tmp_path)


def test_real_registry_points_at_archive_org():
    cats = dl.DATASETS["cat_dataset"]
    assert [a.filename for a in cats.archives] == ["CAT_DATASET_01.zip", "CAT_DATASET_02.zip"]
    assert cats.checksums_url.endswith("CAT_DATASET_files.xml")
    with pytest.raises(ValueError, match="name=dogs: choose one of cat_dataset"):
        run_download(compose_app("download", ["name=dogs"]))
