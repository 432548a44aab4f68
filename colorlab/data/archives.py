"""Dataset downloader: resumable HTTP downloads, size and checksum checks, and safe zip extraction.

    python -m colorlab.download name=cat_dataset [root=data/cat_dataset]

The CAT dataset (Zhang, Sun and Tang, ECCV 2008; ~10,000 cat photos in CAT_00..CAT_06) lives on
archive.org as two zips. archive.org publishes each file's size and MD5 in `<item>_files.xml`;
the downloader reads them there and checks every archive before extracting it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import shutil
import stat
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from colorlab.core.errors import UserError

log = logging.getLogger(__name__)

COMPLETE_MARKER = ".colorlab-complete"
CHUNK = 1 << 20


class DownloadError(UserError, RuntimeError):
    """A download that failed or did not verify; the message names the URL or file."""


class UnsafeArchiveError(UserError, RuntimeError):
    """An archive member that would land outside the target folder (or is a link)."""


@dataclass(frozen=True)
class Archive:
    url: str
    size: int | None = None
    md5: str | None = None

    @property
    def filename(self) -> str:
        return PurePosixPath(self.url).name


@dataclass(frozen=True)
class DatasetSource:
    archives: tuple[Archive, ...]
    checksums_url: str | None = None  # archive.org `_files.xml`: size and md5 of each archive
    about: str = ""


ARCHIVE_ORG = "https://archive.org/download/CAT_DATASET"
DATASETS: dict[str, DatasetSource] = {
    "cat_dataset": DatasetSource(
        archives=(Archive(f"{ARCHIVE_ORG}/CAT_DATASET_01.zip"), Archive(f"{ARCHIVE_ORG}/CAT_DATASET_02.zip")),
        checksums_url=f"{ARCHIVE_ORG}/CAT_DATASET_files.xml",
        about="CAT dataset (Zhang, Sun, Tang 2008), ~10,000 cat photos, ~2 GB zipped, from archive.org",
    ),
}


def ensure_dataset(name: str, root: str | Path, keep_archives: bool = False) -> Path:
    """Download and extract dataset `name` into `root` unless a finished copy is already there."""
    if name not in DATASETS:
        raise ValueError(f"data.download={name!r}: unknown dataset; known: {', '.join(DATASETS)}")
    root = Path(root).expanduser()
    if (root / COMPLETE_MARKER).is_file():
        return root
    source = DATASETS[name]
    log.info("downloading %s into %s", source.about or name, root)
    downloads = root / ".downloads"
    checksums: dict[str, dict] = {}
    if source.checksums_url:
        try:
            checksums = fetch_archive_org_checksums(source.checksums_url)
        except DownloadError as err:
            log.warning("%s: the archives can only be checked against the server's length", err)
    try:
        for archive in source.archives:
            known = checksums.get(archive.filename, {})
            size, md5 = archive.size or known.get("size"), archive.md5 or known.get("md5")
            if md5 is None:
                log.warning("no published checksum for %s: checking its size only", archive.url)
            path = download(archive.url, downloads / archive.filename, size=size, md5=md5)
            safe_extract(path, root)
    except DownloadError as err:
        raise DownloadError(
            f"{err}. Without network: fetch {', '.join(a.url for a in source.archives)} elsewhere, "
            f"put them in {downloads}, and run again; or use data=folder data.root=<your photos>"
        ) from err
    (root / COMPLETE_MARKER).write_text("\n".join(a.url for a in source.archives) + "\n")
    if not keep_archives:
        shutil.rmtree(downloads, ignore_errors=True)
    return root


def fetch_archive_org_checksums(url: str, timeout: float = 30.0) -> dict[str, dict]:
    """{file name: {"size": int, "md5": str}} from an archive.org `_files.xml` listing."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            tree = ET.fromstring(response.read())
    except (urllib.error.URLError, OSError, ET.ParseError) as err:
        raise DownloadError(f"cannot read the checksum list {url}: {err}") from err
    found = {}
    for node in tree.iter("file"):
        size, md5 = node.findtext("size"), node.findtext("md5")
        found[node.get("name", "")] = {"size": int(size) if size else None, "md5": md5}
    return found


def download(
    url: str,
    dest: Path,
    size: int | None = None,
    md5: str | None = None,
    retries: int = 3,
    timeout: float = 60,
) -> Path:
    """Fetch `url` to `dest` through `dest.part`, resuming after a broken connection; verify, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and _verified(dest, size, md5):
        return dest
    part = dest.with_name(dest.name + ".part")
    for attempt in range(1, retries + 1):
        try:
            _fetch_into(url, part, timeout)
            break
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as err:
            have = part.stat().st_size if part.exists() else 0
            log.warning("download of %s broke off at %d bytes (%s); attempt %d/%d", url, have, err, attempt, retries)
            if attempt == retries:
                kept = (
                    f"the partial file {part} ({have:,} bytes) is kept and the next run resumes it"
                    if have
                    else "nothing was downloaded"
                )
                raise DownloadError(f"could not download {url} after {retries} attempts ({err}); {kept}") from err
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise DownloadError(f"{url}: got {got} bytes, expected {size}; deleted the partial file, run again")
    if md5 is not None and (digest := _md5(part)) != md5:
        part.unlink()
        raise DownloadError(f"{url}: MD5 {digest} does not match the published {md5}; deleted it, run again")
    part.replace(dest)
    return dest


def _fetch_into(url: str, part: Path, timeout: float) -> None:
    """Append the rest of `url` to `part`, asking for a byte range when part of it is there."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch
            return
        raise
    with response:
        if have and response.status != 206:  # the server ignored the range: start again
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            open(part, "ab" if have else "wb") as out,
            tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], leave=False) as bar,
        ):
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    if total is not None and got < total:
        raise ConnectionError(f"connection closed after {got} of {total} bytes")


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, size: int | None, md5: str | None) -> bool:
    return (size is None or path.stat().st_size == size) and (md5 is None or _md5(path) == md5)


def safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip into `target`, refusing the whole archive if any member would escape it."""
    target = target.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:
                name = info.filename.replace("\\", "/")
                dest = (target / name).resolve()
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                if (
                    name.startswith("/")
                    or ".." in PurePosixPath(name).parts
                    or is_link
                    or not dest.is_relative_to(target)
                ):
                    raise UnsafeArchiveError(
                        f"{archive}: member {info.filename!r} would be written outside {target} "
                        "(absolute path, '..' or link); nothing was extracted"
                    )
            target.mkdir(parents=True, exist_ok=True)
            for info in members:
                zf.extract(info, target)
    except zipfile.BadZipFile as err:
        archive.unlink(missing_ok=True)
        raise DownloadError(f"{archive} is not a valid zip ({err}); deleted it, run again") from err
