"""The web page that colorizes photos (what `python -m colorlab.app` serves).

Drop or pick one or several photos, compare gray and color with a before/after slider, adjust the
saturation (and, for a color-class model, the annealed-mean temperature), and download every result
at its photo's original resolution. Gradio (`pip install 'colorlab[app]'`) serves it; requests are
queued one at a time, and a photo that cannot be used gets a message in the page, never a crash.
"""

from __future__ import annotations

import atexit
import functools
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from PIL import Image

from colorlab.data.images import open_image, read_rgb
from colorlab.inference.guidance import Point, parse_points, reference_distribution
from colorlab.inference.guided import GuidedPhoto
from colorlab.inference.photo import colorize_image
from colorlab.models.contract import ColorModel

log = logging.getLogger(__name__)

PREVIEW_SIDE = 1024  # the slider shows a downscaled pair; downloads keep the original size


def colorize_files(
    paths: list[str],
    model: ColorModel,
    out_dir: Path,
    saturation: float,
    max_pixels: int,
    temperature: float | None = None,
) -> tuple[list[tuple[Image.Image, Image.Image]], list[Path], list[str]]:
    """(gray/color preview pairs, result files at original size, one message per photo that failed);
    `temperature` is this request's (the shared model is never changed)."""
    previews, results, problems = [], [], []
    for index, path in enumerate(paths or []):
        name = Path(path).name
        try:
            image = open_image(path, max_pixels, name=name)  # messages name the upload, never a server path
            color = colorize_image(image, model, saturation=saturation, temperature=temperature)
        except (OSError, ValueError, SyntaxError) as err:  # what Pillow and our checks raise for bad files
            problems.append(f"{name}: {err}")
            continue
        target = out_dir / f"{index:03d}_{Path(name).stem}_color.png"
        color.save(target)  # lossless, original resolution
        results.append(target)
        gray = color.convert("L").convert(color.mode)
        previews.append((preview(gray), preview(color)))
    return previews, results, problems


def preview(image: Image.Image) -> Image.Image:
    small = image.copy()
    small.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return small


def folder_bytes(folder: Path) -> int:
    """The size of the files under `folder`."""
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


class ResultFolders:
    """The page's files: one folder per server, removed when the server exits; inside it a folder per
    request, the oldest removed once they hold more than `max_bytes` (their downloads expire)."""

    def __init__(self, max_bytes: int = 512 * 1024 * 1024, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="colorlab-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        atexit.register(self.remove)

    def new_request(self) -> Path:
        with self._lock:
            return Path(tempfile.mkdtemp(dir=self.root, prefix="request-"))

    def prune(self, keep: Path) -> None:
        """Remove the oldest request folders, never `keep`, until the rest fit in `max_bytes`."""
        with self._lock:
            folders = sorted((p for p in self.root.glob("request-*") if p.is_dir()), key=lambda p: p.stat().st_mtime_ns)
            sizes = {folder: folder_bytes(folder) for folder in folders}
            total = sum(sizes.values())
            for folder in folders:
                if total <= self.max_bytes:
                    break
                if folder != keep:
                    shutil.rmtree(folder, ignore_errors=True)
                    total -= sizes[folder]

    def bytes_used(self) -> int:
        return folder_bytes(self.root)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def build_app(model: ColorModel, name: str, max_pixels: int, store: ResultFolders | None = None):
    """The Gradio page for `model` (imported here: gradio is an optional extra); its results go to
    `store` (default: a new folder of its own)."""
    import gradio as gr

    trained_temperature = model.temperature
    store = store or ResultFolders()

    def run(files, saturation, temperature):
        paths = [f if isinstance(f, str) else f.name for f in files or []]
        if not paths:
            return None, None, "Pick or drop one or more photos first."
        chosen = float(temperature) if trained_temperature is not None else None
        out_dir = store.new_request()
        previews, results, problems = colorize_files(paths, model, out_dir, float(saturation), max_pixels, chosen)
        store.prune(keep=out_dir)
        lines = [f"Colorized {len(results)} of {len(paths)} photos."]
        lines += [f"- could not colorize {problem}" for problem in problems]
        return (previews[0] if previews else None), ([str(p) for p in results] or None), "\n".join(lines)

    with gr.Blocks(title="colorlab", delete_cache=(60, 600)) as page:  # Gradio's own copies: gone after 10 min
        gr.Markdown(f"# colorlab\nColorize photos with **{name}**. Results download at the original resolution.")
        with gr.Row():
            with gr.Column():
                files = gr.File(label="Photos", file_count="multiple", file_types=["image"], elem_id="photos")
                saturation = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Saturation", elem_id="saturation")
                temperature = gr.Slider(
                    0.05,
                    max(2.0, trained_temperature or 0.0),  # the model's own T must fit (pretrained:cats: 1.3)
                    value=trained_temperature or 0.38,
                    step=0.01,
                    label="Temperature (annealed mean: near 0 the most likely color, 1 the average of all)",
                    visible=trained_temperature is not None,
                    elem_id="temperature",
                )
                button = gr.Button("Colorize", variant="primary", elem_id="colorize")
                status = gr.Markdown(elem_id="status")
            with gr.Column():
                slider = gr.ImageSlider(label="gray | color (first photo)", type="pil", elem_id="slider")
                results = gr.File(label="Results (original resolution)", file_count="multiple", elem_id="results")
        button.click(run, [files, saturation, temperature], [slider, results, status], concurrency_limit=1)
        if model.takes_hints:
            guided_section(model, max_pixels, saturation, temperature, trained_temperature, store)
    page.queue(default_concurrency_limit=1)
    return page


def point_label(number: int, point: Point) -> str:
    colour = "#{:02x}{:02x}{:02x}".format(*point.rgb) if point.rgb is not None else f"ab {point.ab}"
    return f"{number}: ({point.x:.0f}, {point.y:.0f}) {colour}"


def guided_section(model: ColorModel, max_pixels: int, saturation, temperature, trained_temperature, store) -> None:
    """Guide the colours: click the photo to drop a point in the picked colour; points are listed,
    removable one by one, with undo and clear; an optional reference photo; the result follows each
    change. The photo's encoder features are kept, so a change re-runs only the decoder."""
    import gradio as gr

    view = guided_layout()
    act = GuidedActions(model, max_pixels, trained_temperature, store)
    held = gr.State(None, time_to_live=1800)  # this visitor's GuidedPhoto
    points = gr.State([], time_to_live=1800)
    shown = [view["photo"], view["result"], view["listed"], view["download"], view["note"]]
    settings = [view["reference"], saturation, temperature]
    GuidedActions.add.__annotations__["event"] = gr.SelectData  # Gradio passes the click by this type
    view["photo"].upload(act.load, [view["photo"], *settings], [held, points, *shown], concurrency_limit=1)
    view["photo"].select(act.add, [held, points, view["colour"], view["radius"], *settings], [points, *shown],
                         concurrency_limit=1)  # fmt: skip
    view["remove"].click(act.drop, [held, points, view["listed"], *settings], [points, *shown], concurrency_limit=1)
    view["undo"].click(act.undo_last, [held, points, *settings], [points, *shown], concurrency_limit=1)
    view["clear"].click(act.clear_all, [held, points, *settings], [points, *shown], concurrency_limit=1)
    view["reference"].change(act.render, [held, points, *settings], shown, concurrency_limit=1)


def guided_layout() -> dict[str, Any]:
    """The guided section's components, by name."""
    import gradio as gr

    gr.Markdown(
        "## Guide the colours\nUpload a photo, pick a colour, and click where it belongs. "
        "A reference photo (optional) asks for its colours."
    )
    view: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            # Uploads arrive as files: colorlab's reader checks max_pixels from the header before decoding.
            view["photo"] = gr.Image(label="Photo: click to place a point", type="filepath", image_mode=None,
                                     sources=["upload"], elem_id="guide_photo")  # fmt: skip
            with gr.Row():
                view["colour"] = gr.ColorPicker(value="#1e90ff", label="Point colour", elem_id="point_colour")
                view["radius"] = gr.Slider(
                    1, 50, value=4, step=1, label="Point radius (px of the photo)", elem_id="point_radius"
                )
            view["listed"] = gr.Dropdown([], label="Points", elem_id="points", interactive=True)
            with gr.Row():
                view["remove"] = gr.Button("Remove point", elem_id="remove_point")
                view["undo"] = gr.Button("Undo", elem_id="undo_point")
                view["clear"] = gr.Button("Clear", elem_id="clear_points")
            view["reference"] = gr.Image(label="Reference photo (optional)", type="filepath", image_mode=None,
                                         sources=["upload"], elem_id="reference")  # fmt: skip
        with gr.Column():
            view["result"] = gr.Image(label="Guided result", type="pil", interactive=False, elem_id="guided_result")
            view["download"] = gr.File(label="Result (original resolution)", elem_id="guided_download")
            view["note"] = gr.Markdown(elem_id="guided_status")
    return view


class GuidedActions:
    """What the guided section does on each event; each returns the shown components' new values
    (photo with marks, result, point list, download, status), after the new points where they change."""

    def __init__(self, model: ColorModel, max_pixels: int, trained_temperature: float | None, store) -> None:
        self.model, self.max_pixels, self.store = model, max_pixels, store
        self.trained_temperature = trained_temperature
        self.distribution_of = functools.lru_cache(maxsize=4)(self._distribution)

    def _distribution(self, path: str):
        return reference_distribution(read_rgb(path, max_pixels=self.max_pixels))

    def render(self, guided: GuidedPhoto | None, marks, ref, sat, temp):
        """The shown components' values, twice when it can: at once, the points' colours propagated over
        the decoder's last answer (`GuidedPhoto.first_answer`, no network run); then the decoder's
        answer to the new points, with the full-size download."""
        import gradio as gr

        if guided is None:
            yield None, None, gr.update(choices=[], value=None), None, "Upload a photo to guide."
            return
        try:
            distribution = self.distribution_of(str(ref)) if ref is not None else None
        except (OSError, ValueError) as err:
            yield guided.marked(marks), None, gr.update(), None, f"Could not use the reference photo: {err}"
            return
        chosen = float(temp) if self.trained_temperature is not None else None
        labels = gr.update(choices=[point_label(i, p) for i, p in enumerate(marks, start=1)], value=None)
        text = f"{len(marks)} point(s)" + (", with a reference photo" if ref is not None else "")
        first = guided.first_answer(marks, distribution, chosen)
        if first is not None:
            yield guided.marked(marks), guided.image(first, float(sat)), labels, gr.update(), f"{text}; refining …"
        ab = guided.ab(marks, distribution, chosen)  # the decoder and the points' propagation, once
        out_dir = self.store.new_request()
        target = out_dir / "guided_color.png"
        guided.image(ab, float(sat), full=True).save(target, compress_level=1)  # fast: written on every change
        self.store.prune(keep=out_dir)
        yield guided.marked(marks), guided.image(ab, float(sat)), labels, str(target), f"{text}."

    def load(self, image, ref, sat, temp):
        import gradio as gr

        if image is None:
            yield from ((None, [], *shown) for shown in self.render(None, [], None, sat, temp))
            return
        try:
            guided = GuidedPhoto(self.model, read_rgb(image, max_pixels=self.max_pixels))
        except (OSError, ValueError) as err:
            yield None, [], None, None, gr.update(choices=[], value=None), None, f"Could not use this photo: {err}"
            return
        yield from ((guided, [], *shown) for shown in self.render(guided, [], ref, sat, temp))

    def add(self, guided, marks, hex_colour, size, ref, sat, temp, event):
        if guided is not None:
            x, y = guided.to_photo(*event.index[:2])
            try:
                (point,) = parse_points([{"x": float(round(x)), "y": float(round(y)), "color": to_hex(hex_colour),
                                          "radius": float(size)}], guided.width, guided.height, "point")  # fmt: skip
            except ValueError as err:
                for shown in self.render(guided, marks, ref, sat, temp):
                    yield marks, *shown[:4], f"Could not place the point: {err}"
                return
            marks = [*marks, point]
        yield from self.with_points(guided, marks, ref, sat, temp)

    def drop(self, guided, marks, label, ref, sat, temp):
        if label:
            index = int(str(label).split(":", 1)[0]) - 1
            marks = [p for i, p in enumerate(marks) if i != index]
        yield from self.with_points(guided, marks, ref, sat, temp)

    def undo_last(self, guided, marks, ref, sat, temp):
        yield from self.with_points(guided, marks[:-1], ref, sat, temp)

    def clear_all(self, guided, marks, ref, sat, temp):
        yield from self.with_points(guided, [], ref, sat, temp)

    def with_points(self, guided, marks, ref, sat, temp):
        """The new point list, then what `render` shows for it (each of its answers)."""
        yield from ((marks, *shown) for shown in self.render(guided, marks, ref, sat, temp))


def to_hex(colour: str) -> str:
    """A colour picker's value (#rrggbb, #rgb or rgba(r, g, b, a)) as #rrggbb."""
    colour = str(colour).strip()
    if colour.startswith("rgb"):
        parts = colour[colour.index("(") + 1 : colour.index(")")].split(",")
        return "#" + "".join(f"{min(255, max(0, round(float(v)))):02x}" for v in parts[:3])
    if len(colour) == 4 and colour.startswith("#"):
        return "#" + "".join(c * 2 for c in colour[1:])
    return colour
