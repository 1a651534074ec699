"""Build the bundled sample study in resources/sample/ from HC18 head images (re-runnable, deterministic).

Usage::

    python tools/make_sample_study.py [--hc18 PATH/TO/hc18] [--out resources/sample]

What it writes (one study, synthetic identity "FVTEST^ALBA"):

* ``US_still_<HC18 id>.dcm``: Ultrasound Image Storage, MONOCHROME2 800x600, uncompressed, one
  HC18 transthalamic head image below a burned-in banner row (text outside the tissue region);
* ``US_cine_<HC18 id>.dcm``: Ultrasound Multi-frame Image Storage, 120 frames at 30 fps
  (FrameTime 33.333 ms, FrameIncrementPointer -> FrameTime), JPEG baseline, made from one HC18 image
  scaled to 0.8 by smooth synthetic motion (translation, rotation, zoom) and speckle;
* ``sample_truth.json``: per file the HC18 source image, the published pixel size and head
  circumference (HC18, van den Heuvel et al. 2018), the annotation's ellipse in the file's pixels,
  and for the cine the per-frame transform with the apparent HC (published HC x zoom);
* ``NOTICE.md``: the CC BY 4.0 attribution.

Every file carries one Sequence of Ultrasound Regions item: a 2D tissue region in cm over the HC18
image with PhysicalDeltaX = PhysicalDeltaY = pixel size (mm) / 10 (PS3.3 C.8.5.5).
UIDs are derived with ``pydicom.uid.generate_uid(entropy_srcs=...)``, so re-runs give identical files.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: HC18 images used (chosen for clear, centred transthalamic planes at different sizes).
STILL_IDS = ("254_HC", "424_HC", "436_HC")
CINE_ID = "436_HC"
CINE_FRAMES = 120
CINE_FRAME_TIME_MS = 100.0 / 3.0
CINE_SCALE = 0.8
JPEG_QUALITY = 75
BANNER_ROWS = 40
ROWS, COLUMNS = 600, 800

ATTRIBUTION = (
    "Image data: HC18 grand challenge training set, T.L.A. van den Heuvel, D. de Bruijn, C.L. de Korte, "
    "B. van Ginneken, 'Automated measurement of fetal head circumference using 2D ultrasound images', "
    "PLoS ONE 13(8): e0200412 (2018), doi:10.5281/zenodo.1327317, licensed CC BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/). Modified: placed in a DICOM frame with a synthetic "
    "banner; the cine adds synthetic motion and speckle. Synthetic patient identity; not a real exam."
)

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"


def uid(*parts: str) -> str:
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["fetalviewer-sample-study", *parts]))


def read_truth_table(hc18: Path) -> dict[str, tuple[float, float]]:
    with open(hc18 / "pixel_size_and_hc.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    return {r[0].removesuffix(".png"): (float(r[1]), float(r[2])) for r in rows[1:] if r}


def annotation_ellipse(hc18: Path, image_id: str) -> dict:
    """Ellipse fitted to the annotation outline (cv2.fitEllipse), in the HC18 image's pixels."""
    import cv2

    ann = np.asarray(_load_gray(hc18 / "images" / f"{image_id}_Annotation.png"))
    ys, xs = np.nonzero(ann > 127)
    (cx, cy), (w, h), angle = cv2.fitEllipse(np.stack([xs, ys], axis=1).astype(np.float32))
    return {"center_px": [cx, cy], "semi_axes_px": [w / 2, h / 2], "angle_deg": angle}


def _load_gray(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L"))


def banner(columns: int, rows: int, text: str) -> np.ndarray:
    """A burned-in style header row (white text on black), like a scanner's patient banner."""
    import cv2

    out = np.zeros((rows, columns), np.uint8)
    scale = rows / 60.0
    cv2.putText(out, text, (8, int(rows * 0.68)), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    return out


def compose(image: np.ndarray, rows: int, columns: int, banner_rows: int, text: str) -> np.ndarray:
    canvas = np.zeros((rows, columns), np.uint8)
    canvas[:banner_rows] = banner(columns, banner_rows, text)
    h, w = image.shape
    canvas[banner_rows : banner_rows + h, :w] = image
    return canvas


def base_dataset(sop_class: str, sop_uid: str, series: str, number: int, rows: int, columns: int):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = uid("implementation")
    ds.file_meta.ImplementationVersionName = "FETALVIEWER_01"
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL", "0001"]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20260101"
    ds.StudyTime = ds.SeriesTime = "093000"
    ds.ContentTime = f"0930{number:02d}"
    ds.AccessionNumber = "FVTACC01"
    ds.Modality = "US"
    ds.Manufacturer = "FetalViewer sample generator (synthetic)"
    ds.InstitutionName = "FetalViewer sample (synthetic)"
    ds.ReferringPhysicianName = "FVTEST^RUBEN"
    ds.StudyDescription = "Fetal biometry sample (synthetic identity, HC18 images)"
    ds.SeriesDescription = series
    ds.OperatorsName = "FVTEST^OPAL"
    ds.ManufacturerModelName = "make_sample_study.py"
    ds.PatientName = "FVTEST^ALBA"
    ds.PatientID = "FVT-0001"
    ds.PatientBirthDate = "19900101"
    ds.PatientSex = "F"
    ds.PatientComments = "Synthetic identity for the FetalViewer sample study; not a real patient"
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series", series)
    ds.StudyID = "1"
    ds.SeriesNumber = 1 if sop_class == US_IMAGE else 2
    ds.InstanceNumber = number
    ds.PatientOrientation = ""
    ds.BodyPartExamined = "UTERUS"
    ds.BurnedInAnnotation = "YES"
    ds.ImageComments = ATTRIBUTION
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def add_region(ds, x0: int, y0: int, x1: int, y1: int, pixel_mm: float) -> None:
    from pydicom.dataset import Dataset

    region = Dataset()
    region.RegionSpatialFormat = 1  # 2D
    region.RegionDataType = 1  # tissue
    region.RegionFlags = 0
    region.RegionLocationMinX0 = x0
    region.RegionLocationMinY0 = y0
    region.RegionLocationMaxX1 = x1
    region.RegionLocationMaxY1 = y1
    region.PhysicalUnitsXDirection = 3  # cm
    region.PhysicalUnitsYDirection = 3
    region.PhysicalDeltaX = pixel_mm / 10.0
    region.PhysicalDeltaY = pixel_mm / 10.0
    ds.SequenceOfUltrasoundRegions = [region]


def save(ds, path: Path) -> None:
    from fetalviewer.atomic import atomic_path

    with atomic_path(path, suffix=".dcm") as tmp:
        ds.save_as(tmp, enforce_file_format=True)
        tmp.chmod(0o644)


def make_still(hc18: Path, image_id: str, number: int, table: dict, out: Path) -> dict:
    from pydicom.uid import ExplicitVRLittleEndian

    image = _load_gray(hc18 / "images" / f"{image_id}.png")
    pixel_mm, hc_mm = table[image_id]
    h, w = image.shape
    text = f"FVTEST^ALBA  ID FVT-0001  01.01.2026 09:30  HC18 {image_id}"
    pixels = compose(image, ROWS, COLUMNS, BANNER_ROWS, text)
    sop = uid("still", image_id)
    ds = base_dataset(US_IMAGE, sop, "Head stills", number, ROWS, COLUMNS)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    add_region(ds, 0, BANNER_ROWS, w - 1, BANNER_ROWS + h - 1, pixel_mm)
    ds.LossyImageCompression = "00"
    ds.PixelData = pixels.tobytes()
    name = f"US_still_{image_id}.dcm"
    save(ds, out / name)
    ellipse = annotation_ellipse(hc18, image_id)
    ellipse["center_px"] = [ellipse["center_px"][0], ellipse["center_px"][1] + BANNER_ROWS]
    return {
        "file": name,
        "sop_instance_uid": sop,
        "hc18_image": f"{image_id}.png",
        "pixel_size_mm": pixel_mm,
        "hc_mm": hc_mm,
        "annotation_ellipse": ellipse,
        "tissue_region_px": [0, BANNER_ROWS, w - 1, BANNER_ROWS + h - 1],
    }


def motion(i: int) -> dict:
    """Smooth periodic probe motion over the loop (one cycle per 120 frames)."""
    t = 2 * math.pi * i / CINE_FRAMES
    return {
        "dx_px": 6.0 * math.sin(t),
        "dy_px": 4.0 * math.sin(2 * t + 0.5),
        "rotation_deg": 2.0 * math.sin(t + 1.0),
        "zoom": 1.0 + 0.03 * math.sin(t),
    }


def cine_frame(image: np.ndarray, i: int, rng_seed: int) -> np.ndarray:
    import cv2

    m = motion(i)
    h, w = image.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), m["rotation_deg"], m["zoom"])
    matrix[0, 2] += m["dx_px"]
    matrix[1, 2] += m["dy_px"]
    moved = cv2.warpAffine(image.astype(np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    rng = np.random.default_rng(rng_seed + i)
    speckle = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (5, 5), 1.2)
    return np.clip(moved * (1.0 + 0.25 * speckle), 0, 255).astype(np.uint8)


def make_cine(hc18: Path, image_id: str, number: int, table: dict, out: Path) -> dict:
    import cv2
    from PIL import Image
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit

    source = _load_gray(hc18 / "images" / f"{image_id}.png")
    pixel_mm, hc_mm = table[image_id]
    h0, w0 = source.shape
    w, h = round(w0 * CINE_SCALE), round(h0 * CINE_SCALE)
    image = cv2.resize(source, (w, h), interpolation=cv2.INTER_AREA)
    scaled_mm = pixel_mm / CINE_SCALE
    rows, columns, banner_rows = 480, 640, 32
    text = "FVTEST^ALBA  ID FVT-0001  01.01.2026 09:31  cine"
    frames, truth = [], []
    raw_bytes = 0
    for i in range(CINE_FRAMES):
        pixels = compose(cine_frame(image, i, 1000), rows, columns, banner_rows, text)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=JPEG_QUALITY)
        frames.append(buffer.getvalue())
        raw_bytes += pixels.nbytes
        m = motion(i)
        truth.append({**m, "apparent_hc_mm": hc_mm * m["zoom"]})
    sop = uid("cine", image_id)
    ds = base_dataset(US_MULTIFRAME, sop, "Head cine", number, rows, columns)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    add_region(ds, 0, banner_rows, w - 1, banner_rows + h - 1, scaled_mm)
    ds.NumberOfFrames = CINE_FRAMES
    ds.FrameTime = f"{CINE_FRAME_TIME_MS:.3f}"
    ds.FrameIncrementPointer = 0x00181063
    ds.CineRate = 30
    ds.RecommendedDisplayFrameRate = 30
    ds.PreferredPlaybackSequencing = 0
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    ds.LossyImageCompressionRatio = f"{raw_bytes / sum(len(f) for f in frames):.2f}"
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    name = f"US_cine_{image_id}.dcm"
    save(ds, out / name)
    ellipse = annotation_ellipse(hc18, image_id)
    return {
        "file": name,
        "sop_instance_uid": sop,
        "hc18_image": f"{image_id}.png",
        "pixel_size_mm": scaled_mm,
        "published_pixel_size_mm": pixel_mm,
        "hc_mm": hc_mm,
        "scale": CINE_SCALE,
        "frames": truth,
        "note": (
            "Frame i shows the HC18 image scaled by 'scale', then rotated by rotation_deg and zoomed by "
            "zoom about the image centre and shifted by (dx_px, dy_px), below a banner of 32 rows. "
            "The calibration is fixed, so the head's apparent circumference is hc_mm x zoom."
        ),
        "annotation_ellipse_before_motion": {
            "center_px": [
                ellipse["center_px"][0] * CINE_SCALE,
                ellipse["center_px"][1] * CINE_SCALE + banner_rows,
            ],
            "semi_axes_px": [a * CINE_SCALE for a in ellipse["semi_axes_px"]],
            "angle_deg": ellipse["angle_deg"],
        },
    }


NOTICE = """# Sample study: attribution

The DICOM files in this folder are built by `tools/make_sample_study.py` from images of the **HC18**
grand challenge training set:

T.L.A. van den Heuvel, D. de Bruijn, C.L. de Korte, B. van Ginneken, "Automated measurement of fetal
head circumference using 2D ultrasound images", PLoS ONE 13(8): e0200412, 2018.
Dataset: doi:10.5281/zenodo.1327317. Licence: Creative Commons Attribution 4.0 International
(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/).

Changes: each image is placed in a DICOM frame below a synthetic burned-in banner; the cine is made
from one image by synthetic motion (translation, rotation, zoom) and speckle, JPEG compressed.
The patient identity ("FVTEST^ALBA", "FVT-0001") is synthetic; this is not a real exam.
Calibration: one 2D tissue region in cm, PhysicalDelta = published pixel size (mm) / 10.
`sample_truth.json` keeps the published pixel sizes and head circumferences.
"""


def build(hc18: Path, out: Path) -> list[Path]:
    from fetalviewer.atomic import write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    table = read_truth_table(hc18)
    entries = [make_still(hc18, image_id, n, table, out) for n, image_id in enumerate(STILL_IDS, start=1)]
    entries.append(make_cine(hc18, CINE_ID, len(STILL_IDS) + 1, table, out))
    truth = {
        "description": "Ground truth for the bundled sample study (see NOTICE.md)",
        "source": "HC18, van den Heuvel et al. 2018, doi:10.5281/zenodo.1327317, CC BY 4.0",
        "study_instance_uid": uid("study"),
        "ellipse_convention": "cv2.fitEllipse on the annotation outline; (x=col, y=row) pixels of the DICOM frame",
        "instances": entries,
    }
    write_text_atomic(out / "sample_truth.json", json.dumps(truth, indent=2) + "\n")
    write_text_atomic(out / "NOTICE.md", NOTICE)
    for name in ("sample_truth.json", "NOTICE.md"):
        (out / name).chmod(0o644)
    return [out / e["file"] for e in entries]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hc18", type=Path, default=ROOT.parent / "shared" / "data" / "hc18")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "sample")
    args = parser.parse_args(argv)
    if not (args.hc18 / "pixel_size_and_hc.csv").is_file():
        print(f"error: {args.hc18}: HC18 folder not found (pixel_size_and_hc.csv missing)", file=sys.stderr)
        return 1
    for path in build(args.hc18, args.out):
        print(f"{path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
