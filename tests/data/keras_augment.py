"""Keras reference for tests/data/keras_augment_test.cpp.

Usage: keras_augment.py CASES.json OUT_DIR

CASES.json: {"image": RAW, "h": H, "w": W, "ch": C, "cases": [{"convention":
"legacy" | "2.9", "theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
"flip_vertical", "channel_shift_intensity", "brightness", "fill_mode", "cval"}]}
with RAW the H x W x C uint8 pixels. Writes OUT_DIR/<i>.f64, the float64 result
of each case, and exits 3 when keras_preprocessing (python3-keras-preprocessing)
or scipy is missing.

"legacy" is keras_preprocessing 1.1's own ImageDataGenerator.apply_transform.
"2.9" is Keras >= 2.9's apply_transform: the same matrices, centred on
n / 2 - 0.5 (not 1.1's n / 2 + 0.5), rows and columns swapped before
scipy.ndimage.affine_transform ("M' = PMP"), and brightness through
array_to_img(scale=False), built from keras_preprocessing's parts.
"""
import json
import os
import sys

try:
    import numpy as np
    from scipy import ndimage
    from keras_preprocessing.image import ImageDataGenerator
    from keras_preprocessing.image import affine_transformations as at
    from keras_preprocessing.image import utils as kutils
    from PIL import ImageEnhance
except ImportError as e:
    print("missing:", e, file=sys.stderr)
    sys.exit(3)


def affine_2_9(x, p, fill_mode, cval):
    """keras/preprocessing/image.py apply_affine_transform (Keras >= 2.9)."""
    theta, tx, ty = np.deg2rad(p["theta"]), p["tx"], p["ty"]
    shear, zx, zy = np.deg2rad(p["shear"]), p["zx"], p["zy"]
    m = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    m = m @ np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
    m = m @ np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
    m = m @ np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
    h, w = x.shape[0], x.shape[1]
    # Keras >= 2.9's transform_matrix_offset_center: n / 2 - 0.5.
    o_x, o_y = h / 2 - 0.5, w / 2 - 0.5
    m = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]]) @ m @ np.array(
        [[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    m[:, [0, 1]] = m[:, [1, 0]]
    m[[0, 1]] = m[[1, 0]]
    planes = [ndimage.affine_transform(x[:, :, c], m[:2, :2], m[:2, 2], order=1,
                                       mode=fill_mode, cval=cval) for c in range(x.shape[2])]
    return np.stack(planes, axis=2)


def apply_2_9(x, p, fill_mode, cval):
    x = affine_2_9(x, p, fill_mode, cval)
    if p["channel_shift_intensity"] is not None:
        x = at.apply_channel_shift(x, p["channel_shift_intensity"], 2)
    if p["flip_horizontal"]:
        x = at.flip_axis(x, 1)
    if p["flip_vertical"]:
        x = at.flip_axis(x, 0)
    if p["brightness"] is not None:
        img = kutils.array_to_img(x, scale=False)
        x = kutils.img_to_array(ImageEnhance.Brightness(img).enhance(p["brightness"]))
    return x


def main():
    spec = json.load(open(sys.argv[1]))
    h, w, ch = spec["h"], spec["w"], spec["ch"]
    src = np.fromfile(spec["image"], dtype=np.uint8).reshape(h, w, ch).astype("float32")
    for i, case in enumerate(spec["cases"]):
        p = {k: case[k] for k in ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal",
                                  "flip_vertical", "channel_shift_intensity", "brightness")}
        if case["convention"] == "legacy":
            gen = ImageDataGenerator(fill_mode=case["fill_mode"], cval=case["cval"])
            out = gen.apply_transform(src.copy(), p)
        else:
            out = apply_2_9(src.copy(), p, case["fill_mode"], case["cval"])
        np.asarray(out, dtype=np.float64).tofile(os.path.join(sys.argv[2], "%d.f64" % i))


if __name__ == "__main__":
    main()
