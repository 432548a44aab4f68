"""Files from strangers and careless settings, through the real commands and scripts: stored data
settings open no address, outputs stay inside the output folder, sizes are checked before memory is
spent, every bad value is one `error:` line, and generated pages show what they include as text."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from colorlab.core.stored_data import StoredDataError, checked_data_settings, local_path
from colorlab.models.checkpoints import find_checkpoint
from tests.conftest import smooth_image
from tests.helpers.commands import ROOT, assert_one_error_line, cli, clis, evil_checkpoint, evil_model_file

# --- stored data settings are data, never addresses ------------------------------------------------

SCHEME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-"


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.text(alphabet=SCHEME_CHARS, min_size=0, max_size=8).map(lambda rest: "h" + rest),
    slashes=st.integers(0, 4),
    rest=st.text(alphabet="abc/.:{}0123456789-_", max_size=30),
    case=st.sampled_from([str.lower, str.upper, str.title, lambda s: s]),
    space=st.sampled_from(["", " ", "\t"]),
)
def test_any_spelling_of_a_scheme_in_a_stored_path_is_refused(scheme, slashes, rest, case, space):
    value = f"{space}{case(scheme)}:{'/' * slashes}{rest}"
    with pytest.raises(StoredDataError, match="URL, command or scheme"):
        local_path(value, "data.urls")


@pytest.mark.parametrize(
    "value",
    ["http:/127.0.0.1:8765/shards", "HTTP://x", "data:,{}", "DATA:text/plain,x", "file:///etc", "file:/etc",
     "pipe:curl -s x", "s3://bucket/k", "simplecache::/tmp/x", "//host/share", "gs:bucket"],
)  # fmt: skip
def test_named_address_forms_are_refused(value):
    with pytest.raises(StoredDataError, match="URL, command or scheme"):
        local_path(value, "data.urls")


def test_stored_data_is_rebuilt_from_typed_values_only(tmp_path):
    base = {"_target_": "colorlab.data.ColorDataModule", "root": str(tmp_path)}
    assert checked_data_settings({**base, "num_workers": 48})["num_workers"] <= (os.cpu_count() or 1)
    assert checked_data_settings({**base, "cache_dir": "/elsewhere", "cache_features": True})["cache_dir"] is None
    for bad, needle in [({"colour": 1}, "data.colour: not a setting"), ({"image_size": True}, "data.image_size"),
                        ({"batch_size": 10**9}, "data.batch_size"), ({"min_chroma": float("nan")}, "finite"),
                        ({"split": [[[0.8]]]}, "data.split"), ({"root": "/proc/self"}, "data.root")]:  # fmt: skip
        with pytest.raises(StoredDataError, match=needle):
            checked_data_settings({**base, **bad})


class Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (the standard library's name)
        Recorder.requests.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_one_slash_url_and_a_data_index_in_stored_settings_open_nothing(cli_sweep, tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        data = {"_target_": "colorlab.data.shard_datamodule.ShardDataModule", "urls": f"http:/127.0.0.1:{port}/shards",
                "index": 'data:,{"splits": {}}', "image_size": 32}  # fmt: skip
        run = tmp_path / "sweep" / "0_evil"
        (run / "checkpoints").mkdir(parents=True)
        evil_checkpoint(cli_sweep, tmp_path, "data", data).rename(run / "checkpoints" / "last.ckpt")
        (run / "summary.json").write_text('{"status": "finished"}')
        unknown = {"_target_": "colorlab.data.ColorDataModule", "root": str(tmp_path), "colour": 1, "num_workers": 48}
        stranger = evil_checkpoint(cli_sweep, tmp_path, "data", unknown, name="unknown.ckpt")
        evaluated, compared, unknown_key = clis(
            ("colorlab.evaluate", f"run={run}"),
            ("colorlab.compare", f"runs={run}", f"out={tmp_path / 'report'}"),
            ("colorlab.evaluate", f"run={stranger}"),
            cwd=tmp_path,
        )
    finally:
        server.shutdown()
    assert_one_error_line(evaluated, "data.urls", "URL, command or scheme")
    assert_one_error_line(unknown_key, "unknown.ckpt", "data.colour: not a setting")
    assert "URL, command or scheme" in compared.stderr + (tmp_path / "report" / "report.md").read_text()
    assert Recorder.requests == []


# --- outputs stay inside the output folder ---------------------------------------------------------


def save_photo(path: Path, seed: int, size: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(smooth_image(size, seed)).save(path)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims `width` x `height` (a decompression bomb for any reader that trusts it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))  # fmt: skip
    return path


def test_colorize_follows_no_link_inside_the_output_and_refuses_a_file_as_output(cli_sweep, tmp_path):
    photos = tmp_path / "in"
    save_photo(photos / "sub" / "p.jpg", 1), save_photo(photos / "q.jpg", 2)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir(), elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    blocker = tmp_path / "a_file.jpg"
    blocker.write_text("x")
    ckpt = f"ckpt={cli_sweep / '0_baseline'}"
    linked, onto_file = clis(
        ("colorlab.colorize", ckpt, f"input={photos}", f"output={out}"),
        ("colorlab.colorize", ckpt, f"input={photos}", f"output={blocker}"),
        cwd=tmp_path,
    )
    assert linked.returncode == 1 and "is a link" in linked.stderr, linked.stderr[-2000:]
    assert list(elsewhere.iterdir()) == [] and (out / "q.jpg").is_file()
    assert_one_error_line(onto_file, "output=", "is a file")
    assert blocker.read_text() == "x"


# --- one size check before memory is spent ---------------------------------------------------------


def video_whose_frames_grow(path: Path) -> Path:
    """An MJPEG AVI whose header says 64x64 while its later frames are 256x256."""
    import av

    rate = Fraction(1, 5)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuvj420p"
        big = av.CodecContext.create("mjpeg", "w")
        big.width, big.height, big.pix_fmt, big.time_base = 256, 256, "yuvj420p", rate
        for index, (codec, side) in enumerate([(stream, 64), (big, 256), (big, 256)]):
            frame = av.VideoFrame.from_ndarray(smooth_image(side, index), format="rgb24").reformat(format="yuvj420p")
            frame.pts, frame.time_base = index, rate
            for packet in codec.encode(frame):
                packet.stream, packet.pts, packet.dts, packet.time_base = stream, index, index, rate
                container.mux(packet)
    return path


def test_a_video_whose_frames_outgrow_its_header_is_refused_at_the_first_such_frame(cli_sweep, tmp_path):
    pytest.importorskip("av")
    (tmp_path / "in").mkdir()
    video = video_whose_frames_grow(tmp_path / "in" / "grow.avi")
    save_photo(tmp_path / "in" / "ok.jpg", 3)
    done = cli("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f"input={tmp_path / 'in'}",
               f"output={tmp_path / 'out'}", "max_pixels=5000", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1 and "but the stream's header says 64x64" in done.stderr, done.stderr[-2000:]
    assert (tmp_path / "out" / "ok.jpg").is_file() and not (tmp_path / "out" / "grow.avi").exists()
    assert video.stat().st_size > 0


def compressed_copy(source: Path, target: Path, extra_bytes: int) -> Path:
    """The same torch archive with every entry deflated and one more entry of zeros: a small file that
    claims far more."""
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for entry in archive.infolist():
            out.writestr(entry.filename, archive.read(entry))
        prefix = archive.infolist()[0].filename.split("/")[0]
        out.writestr(f"{prefix}/data/bomb", b"\0" * extra_bytes)
    return target


def test_hostile_model_files_are_refused_before_they_allocate(cli_sweep, tmp_path):
    evil_model_file(cli_sweep, tmp_path, lambda m: m["network"]["decoder"].update(widths=[8000] * 6), "w.ckpt")
    evil_model_file(cli_sweep, tmp_path, lambda m: m["network"]["decoder"].update(widths=[10**5] * 6), "h.ckpt")
    source = find_checkpoint(cli_sweep / "0_baseline")
    bomb = compressed_copy(source, tmp_path / "bomb.ckpt", 256 << 20)
    assert bomb.stat().st_size < source.stat().st_size + (1 << 20)  # 256 MiB more claimed, < 1 MiB more on disk
    evil_model_file(cli_sweep, tmp_path, lambda m: m["network"]["head"].update(temperature=float("nan")), "t.ckpt")
    evil_model_file(cli_sweep, tmp_path, lambda m: m.update(version=True), "v.ckpt")
    checkpoint = torch.load(find_checkpoint(cli_sweep / "0_baseline"), weights_only=True)
    key = next(k for k, v in checkpoint["state_dict"].items() if k.startswith("net.decoder") and v.is_floating_point())
    checkpoint["state_dict"][key] = torch.full_like(checkpoint["state_dict"][key], float("nan"))
    torch.save(checkpoint, tmp_path / "nan.ckpt")
    v1 = torch.load(ROOT / "tests" / "data" / "v1" / "baseline_train_v1.ckpt", weights_only=True)
    listed = {**v1, "state_dict": list(v1["state_dict"].values())}
    torch.save(listed, tmp_path / "v1_list.ckpt")
    torch.save({**v1, "state_dict": {**v1["state_dict"], 7: torch.zeros(1)}}, tmp_path / "v1_int.ckpt")
    photo = save_photo(tmp_path / "p.jpg", 4)
    cases = {
        "w.ckpt": "do not fit", "h.ckpt": "do not fit", "bomb.ckpt": "compressed", "t.ckpt": "finite",
        "v.ckpt": "format version True", "nan.ckpt": "NaN", "v1_list.ckpt": "not a mapping of names to tensors",
        "v1_int.ckpt": "not a mapping of names to tensors",
    }  # fmt: skip
    done = clis(*(("colorlab.colorize", f"ckpt={tmp_path / name}", f"input={photo}", f"output={tmp_path / 'o'}")
                  for name in cases), cwd=tmp_path)  # fmt: skip
    for (name, needle), result in zip(cases.items(), done, strict=True):
        assert_one_error_line(result, name, needle)
    assert not (tmp_path / "o").exists()


def test_hints_files_that_never_end_block_nest_or_name_a_bomb(cli_sweep, tmp_path):
    photos = tmp_path / "in"
    good = save_photo(photos / "good.jpg", 5)
    png_header_only(photos / "bomb.png", 60000, 60000)
    fifo = tmp_path / "hints.fifo"
    os.mkfifo(fifo)
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 5_000_000)
    naming = tmp_path / "naming.json"
    point = {"x": 5, "y": 5, "color": "#2050ff"}
    naming.write_text(json.dumps({"good.jpg": [point], "bomb.png": [point]}))
    shutil.copy(ROOT / "colorlab" / "pretrained" / "cats.ckpt", tmp_path / "hinted.ckpt")
    model = f"ckpt={tmp_path / 'hinted.ckpt'}"
    base = ("colorlab.colorize", model, f"input={good}", f"output={tmp_path / 'o'}", "size=32")
    zero, blocking, deep = clis(*((*base, f"hints={hints}") for hints in ("/dev/zero", fifo, nested)), cwd=tmp_path)
    assert_one_error_line(zero, "/dev/zero", "not a regular file")
    assert_one_error_line(blocking, "hints.fifo", "not a regular file")
    assert_one_error_line(deep, "nested.json", "nested too deeply")
    both = cli("colorlab.colorize", model, f"input={photos}", f"output={tmp_path / 'o2'}", f"hints={naming}",
               "size=32", cwd=tmp_path)  # fmt: skip
    assert both.returncode == 1 and "bomb.png" in both.stderr, both.stderr[-2000:]
    assert (tmp_path / "o2" / "good.jpg").is_file() and "1 colorized" in both.stdout


def test_non_finite_settings_are_refused_by_name(cli_sweep, tmp_path):
    photo = save_photo(tmp_path / "p.jpg", 6)
    base = ("colorlab.colorize", f"ckpt={cli_sweep / '0_baseline'}", f"input={photo}", f"output={tmp_path / 'o'}")
    saturation, temporal = clis((*base, "saturation=nan"), (*base, "temporal=inf"), cwd=tmp_path)
    assert_one_error_line(saturation, "saturation=nan", "finite")
    assert_one_error_line(temporal, "temporal=inf", "finite")
    assert not (tmp_path / "o").exists()


# --- numbers that cannot lie ----------------------------------------------------------------------


def test_edited_kept_baseline_scores_are_not_reported_and_a_model_cannot_pose_as_a_baseline(cli_sweep, tmp_path):
    photos = tmp_path / "photos"
    for i in range(12):
        save_photo(photos / f"p{i}.jpg", i, 48)
    posing = evil_model_file(cli_sweep, tmp_path, lambda m: m.update(variant="gray baseline"), "posing.ckpt")
    data = ["data=folder", f"data.root={photos}", "data.image_size=32", "data.split=[0.0,0.0,1.0]",
            f"data.cache_dir={tmp_path / 'cache'}", "bootstrap=10", "baselines=[gray,mean]"]  # fmt: skip
    first = cli("colorlab.evaluate", f"run={posing}", *data, f"out={tmp_path / 'e1'}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((tmp_path / "e1" / "metrics.json").read_text())["results"]
    assert {"gray baseline", "gray baseline (model)", "mean baseline"} <= set(results)
    entries = list((tmp_path / "cache" / "baselines").glob("*.json"))
    assert len(entries) == 2
    for entry in entries:
        rows = json.loads(entry.read_text())
        entry.write_text(json.dumps([{**row, "psnr": 99.0} for row in rows]))
    again = cli("colorlab.evaluate", f"run={posing}", *data, f"out={tmp_path / 'e2'}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads((tmp_path / "e2" / "metrics.json").read_text())
    assert second["baselines_reused"] == [] and "do not match a fresh scoring" in again.stdout + again.stderr
    assert second["results"]["gray baseline"]["psnr"]["mean"] == pytest.approx(results["gray baseline"]["psnr"]["mean"])


# --- generated pages escape what they include -------------------------------------------------------


def test_published_pages_show_hostile_text_as_text_and_stay_in_their_folder(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.md").write_text(
        "# title\n| variant | PSNR |\n|---|---|\n| <script>alert(1)</script> | 20 |\n"
        '<img src=x onerror="alert(2)">\n--8<-- "pyproject.toml"\n'
    )
    Image.new("RGB", (8, 8)).save(report / "curves.png"), Image.new("RGB", (8, 8)).save(report / "grid.png")
    docs = tmp_path / "docs"
    docs.mkdir()
    script = [sys.executable, str(ROOT / "scripts" / "publish_report.py"), str(report), "--docs", str(docs)]
    ok = subprocess.run([*script, "--name", "x"], capture_output=True, text=True, cwd=tmp_path)
    escaped = subprocess.run([*script, "--name", "../escaped"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    page = (docs / "x_report.md").read_text()
    assert "<script>" not in page and "<img" not in page and "--8<--" not in page and "&lt;script&gt;" in page
    assert escaped.returncode == 2 and "--name" in escaped.stderr and not (tmp_path / "escaped_report.md").exists()
    evaluation = tmp_path / "<script>alert(3)<"
    evaluation.mkdir()
    interval = {"mean": 1.0, "ci_low": 0.5, "ci_high": 1.5}
    metrics = {"variant": "<b>v</b>", "images": 3, "temperature": None, "results": {"<b>v</b>": {"dcf": interval}},
               "differences": {"<b>v</b> - mean baseline": {"auc": interval, "auc_rebalanced": interval}},
               "measured": {"commit": "<script>", "date": "d", "machine": "m"}}  # fmt: skip
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    table = tmp_path / "frontier.md"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "frontier.py"), str(evaluation), "--table",
                           str(table)], capture_output=True, text=True, cwd=tmp_path, env={**os.environ,
                           "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "<script>" not in table.read_text() and "&lt;script&gt;" in table.read_text()


# --- resuming reads a local file, never a URL ---------------------------------------------------------


def test_a_resume_path_that_starts_with_http_is_a_local_file_loaded_with_weights_only(cli_sweep, tmp_path):
    local = tmp_path / "httpruns" / "r" / "last.ckpt"
    local.parent.mkdir(parents=True)
    shutil.copy(find_checkpoint(cli_sweep / "0_baseline"), local)
    photos = tmp_path / "photos"
    for i in range(8):
        save_photo(photos / f"p{i}.jpg", i, 48)
    done = cli("colorlab.train", "model=baseline", "debug=tiny", "data=folder", f"data.root={photos}",
               f"paths.cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'resumed'}", "trainer.max_epochs=2",
               "ckpt_path=httpruns/r/last.ckpt", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    hub = Path(torch.hub.get_dir()) / "checkpoints" / "last.ckpt"
    assert not hub.exists()
    summary = json.loads((tmp_path / "resumed" / "summary.json").read_text())
    assert summary["status"] == "finished"
