"""Decodes image files with PIL as a Keras user's load_img does
(Image.open(f).convert("RGB")), for the C++ tests that compare sluice's decoder
with it (jpeg_pil_test.cpp).

usage: pil_decode.py OUT_DIR FILE...
Writes OUT_DIR/<i>.rgb (the packed RGB rows) for each FILE that PIL decodes and
prints one line per FILE: "<i> ok <width> <height>" or "<i> error".
Exits 3 when PIL cannot be imported.
"""

import sys
import warnings

try:
    from PIL import Image
except ImportError:
    sys.exit(3)

warnings.simplefilter("ignore")
out_dir = sys.argv[1]
for i, path in enumerate(sys.argv[2:]):
    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            data = rgb.tobytes()
    except Exception:  # noqa: BLE001 - any failure is "PIL does not decode it"
        print(i, "error", flush=True)
        continue
    with open(f"{out_dir}/{i}.rgb", "wb") as f:
        f.write(data)
    print(i, "ok", rgb.width, rgb.height, flush=True)
