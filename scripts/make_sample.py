"""Rebuild colorlab/data/sample/ from the Oxford-IIIT Pet cat photos (CC BY-SA 4.0).

    python scripts/make_sample.py ../shared/data/oxford_pets_cats

Each photo is downscaled to at most 256 px on its long side (JPEG quality 90); MANIFEST.csv keeps
each file's source name and sha256, so the sample can be checked against its origin.
"""

import csv
import hashlib
import sys
from pathlib import Path

from PIL import Image, ImageOps

LONG_SIDE = 256
OUT = Path(__file__).resolve().parents[1] / "colorlab" / "data" / "sample"


def main(source: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in sorted(source.glob("*.jpg")):
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img).convert("RGB")
            img.thumbnail((LONG_SIDE, LONG_SIDE), Image.Resampling.LANCZOS)
            dest = OUT / path.name
            img.save(dest, quality=90)
        rows.append(
            [
                path.name,
                hashlib.sha256(path.read_bytes()).hexdigest(),
                *img.size,
                hashlib.sha256(dest.read_bytes()).hexdigest(),
            ]
        )
    with open(OUT / "MANIFEST.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "source_sha256", "width", "height", "sha256"])
        writer.writerows(rows)
    print(f"wrote {len(rows)} photos to {OUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
