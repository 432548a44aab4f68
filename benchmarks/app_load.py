"""A bounded load test of the web page: concurrent uploads of good, broken and oversized photos.

    python benchmarks/app_load.py [--ckpt pretrained:cats] [--requests 20] [--rounds 2] [--table benchmarks/app_load.md]

Starts `python -m colorlab.app` on 127.0.0.1 (a free port, its temporary folder inside a folder of
this run), then sends `--requests` uploads at once through Gradio's own client, `--rounds` times: a
third good photos (the embedded sample, 500x375), a third broken files, a third over the page's
`max_pixels`. Reports whether every request was answered and the server still serves, the server's
resident memory (start, peak, after), its temporary folder's size while serving and what is left
of it after the server stops, as JSON (`--out`) and as a Markdown table with its provenance
(`--table`, which the reliability page includes). Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from colorlab.core.provenance import provenance

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "colorlab" / "data" / "sample"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def inputs(folder: Path, count: int) -> list[Path]:
    """Good, broken and oversized photos, in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = sorted(SAMPLE.glob("*.jpg"))
    files = []
    for i in range(count):
        kind = ("good", "broken", "big")[i % 3]
        path = folder / f"{kind}{i:02d}.jpg"
        if kind == "good":
            Image.open(photos[i % len(photos)]).convert("RGB").resize((500, 375)).save(path, quality=90)
        elif kind == "broken":
            path.write_bytes(b"\xff\xd8\xff\xe0 not a photo at all")
        else:
            Image.new("L", (5000, 4000), 128).save(path, quality=50)  # 20 Mpx: over the page's 16 Mpx
        files.append(path)
    return files


def table(result: dict, command: str) -> str:
    """The load test's outcome as one Markdown table, under the line that says where it was measured."""
    rss, temp = result["server_rss_mb"], result["temp_folder_mb"]
    rows = [
        ("requests answered", f"{result['answered']} of {result['requests']}"),
        ("colorized / refused with a message", f"{result['colorized']} / {result['refused_with_a_message']}"),
        ("still serving afterwards", "yes" if result["still_serving"] else "**no**"),
        ("seconds per round", ", ".join(f"{s:g}" for s in result["seconds_per_round"])),
        ("server resident memory, MB: start / peak / after", f"{rss['start']} / {rss['peak']} / {rss['after']}"),
        ("its temporary folder, MB: peak / after the requests", f"{temp['peak']} / {temp['after_requests']}"),
        ("left in the temporary folder after exit", ", ".join(result["left_after_exit"]) or "nothing"),
    ]
    lines = [provenance(command), "", "| measured | value |", "|---|---|"]
    return "\n".join(lines + [f"| {name} | {value} |" for name, value in rows]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", default="pretrained:cats")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "app_load.json")
    parser.add_argument("--table", type=Path, help="also write the outcome as a Markdown table here")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=value settings for the server process")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        temp = tmp / "server-temp"
        temp.mkdir()
        files = inputs(tmp / "uploads", args.requests)
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp), "GRADIO_ANALYTICS_ENABLED": "False"}
        env.update(dict(item.split("=", 1) for item in args.env))
        env.pop("GRADIO_TEMP_DIR", None)
        command = [sys.executable, "-m", "colorlab.app", f"ckpt={args.ckpt}", f"port={port}", "host=127.0.0.1"]
        server = subprocess.Popen(command, env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        start_mb, peak_mb, folder_peak = rss_mb(server.pid), 0.0, 0.0
        client = Client(url, verbose=False)
        answered, statuses, seconds = 0, [], []

        def upload(path: Path) -> str:
            kwargs = {"saturation": 1.0}
            info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/run"]
            if len(info["parameters"]) == 3:
                kwargs["temperature"] = 1.0
            return client.predict([handle_file(str(path))], api_name="/run", **kwargs)[2]

        for _ in range(args.rounds):
            began = time.perf_counter()
            with ThreadPoolExecutor(args.requests) as pool:
                futures = [pool.submit(upload, path) for path in files]
                while not all(f.done() for f in futures):
                    peak_mb = max(peak_mb, rss_mb(server.pid))
                    folder_peak = max(folder_peak, folder_mb(temp))
                    time.sleep(0.2)
                for future in futures:
                    try:
                        statuses.append(future.result())
                        answered += 1
                    except Exception as err:  # a request that got no answer
                        statuses.append(f"no answer: {err}")
            seconds.append(time.perf_counter() - began)
        time.sleep(2)
        after_mb, folder_after = rss_mb(server.pid), folder_mb(temp)
        still_serving = urllib.request.urlopen(url, timeout=10).status == 200
        server.terminate()
        server.wait(timeout=60)
        left = sorted(p.name for p in temp.iterdir())
    result = {
        "requests": args.requests * args.rounds,
        "answered": answered,
        "colorized": sum("Colorized 1 of 1" in s for s in statuses),
        "refused_with_a_message": sum("could not colorize" in s for s in statuses),
        "still_serving": still_serving,
        "seconds_per_round": [round(s, 1) for s in seconds],
        "server_rss_mb": {"start": round(start_mb), "peak": round(peak_mb), "after": round(after_mb)},
        "temp_folder_mb": {"peak": round(folder_peak, 1), "after_requests": round(folder_after, 1)},
        "left_after_exit": left,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if args.table:
        command = " ".join(["python benchmarks/app_load.py", *sys.argv[1:]])
        args.table.write_text(table(result, command))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
