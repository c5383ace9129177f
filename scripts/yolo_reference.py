#!/usr/bin/env python3
"""Reference YOLOv4-tiny detector on the ONNX model written by scripts/darknet2onnx.py.

Usage: python3 scripts/yolo_reference.py MODEL.onnx NAMES IMAGE [IMAGE ...]
           [--thresh 0.25] [--nms 0.45] [--runs 10] [--threads 1,2] [--resize darknet|pil]

Needs onnxruntime, numpy and Pillow. For each image it prints one line per detection,
`label confidence xMin yMin xMax yMax` (original image pixels, sorted by confidence; a label
may contain spaces, e.g. "traffic light", so parse the five numbers from the right), then the
median inference time (session.run only) over --runs runs for each intra-op thread count.
It is the yardstick for the Swift decoder, so it follows Darknet step by step:

  preprocess  decode (Pillow), RGB, /255, plain resize to the net size (no letterbox) with
              Darknet's own resize_image (default) or Pillow bilinear, NCHW float32
  decode      per head, per anchor a of its mask, per cell (row cy, column cx):
                x = (sigmoid(tx) * s - (s - 1) / 2 + cx) / grid_w     (s = scale_x_y = 1.05)
                y = (sigmoid(ty) * s - (s - 1) / 2 + cy) / grid_h
                w = exp(tw) * anchor_w / net_w,  h = exp(th) * anchor_h / net_h
                score[c] = sigmoid(objectness) * sigmoid(class c)
              channel layout of a head: [anchor][tx, ty, tw, th, obj, 80 classes] = 3 * 85
  filter      keep (box, class) pairs with score > thresh (a box may yield several classes)
  nms         greedy, per class, IoU > nms drops the lower-scored box
"""

import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

NET_SIZE = 416
NUM_CLASSES = 80
SCALE_X_Y = 1.05
ANCHORS = [(10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319)]
# Anchor masks from yolov4-tiny.cfg, keyed by output name. Note the 26x26 head uses 1,2,3
# (not 0,1,2): anchor (81,82) is shared by both heads and (10,14) is never used.
MASKS = {"out13": (3, 4, 5), "out26": (1, 2, 3)}


def darknet_resize(pixels, width, height):
    """Darknet's resize_image() (image.c), vectorised: bilinear with corners aligned
    (scale = (in - 1) / (out - 1)), no antialiasing, columns first then rows, float32
    throughout. pixels: [H, W, C] float32 in 0..1. Simple enough to port bit-for-bit."""
    in_h, in_w = pixels.shape[:2]
    # Pass 1: columns. The last output column copies the last input column.
    sx = np.arange(width, dtype=np.float32) * (np.float32(in_w - 1) / np.float32(width - 1))
    ix = sx.astype(np.int64)
    dx = (sx - ix.astype(np.float32))[None, :, None]
    part = (1 - dx) * pixels[:, ix] + dx * pixels[:, np.minimum(ix + 1, in_w - 1)]
    part[:, width - 1] = pixels[:, in_w - 1]
    # Pass 2: rows. The last output row takes only the (1 - dy) term, as in Darknet.
    sy = np.arange(height, dtype=np.float32) * (np.float32(in_h - 1) / np.float32(height - 1))
    iy = sy.astype(np.int64)
    dy = (sy - iy.astype(np.float32))[:, None, None]
    out = (1 - dy) * part[iy] + dy * part[np.minimum(iy + 1, in_h - 1)]
    out[height - 1] = (1 - dy[height - 1]) * part[iy[height - 1]]
    return out


def preprocess(path, resize="darknet"):
    """Image file -> ([1, 3, 416, 416] float32 RGB 0..1, (width, height) of the original)."""
    image = Image.open(path).convert("RGB")
    if resize == "darknet":
        pixels = darknet_resize(np.asarray(image, np.float32) / 255.0, NET_SIZE, NET_SIZE)
    else:  # "pil": Pillow's bilinear, which antialiases (widens the filter) when shrinking
        pixels = np.asarray(image.resize((NET_SIZE, NET_SIZE), Image.BILINEAR), np.float32) / 255.0
    tensor = pixels.transpose(2, 0, 1)[None]
    return np.ascontiguousarray(tensor, np.float32), image.size


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decode(raw, mask, thresh):
    """raw: [1, 3*85, g, g] head output -> list of (class, score, x0, y0, x1, y1) in 0..1."""
    _, _, gh, gw = raw.shape
    t = raw.reshape(len(mask), 5 + NUM_CLASSES, gh, gw).astype(np.float64)
    cy, cx = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
    anchors = np.array([ANCHORS[m] for m in mask], np.float64)
    x = (sigmoid(t[:, 0]) * SCALE_X_Y - (SCALE_X_Y - 1) / 2 + cx) / gw
    y = (sigmoid(t[:, 1]) * SCALE_X_Y - (SCALE_X_Y - 1) / 2 + cy) / gh
    w = np.exp(t[:, 2]) * anchors[:, 0, None, None] / NET_SIZE
    h = np.exp(t[:, 3]) * anchors[:, 1, None, None] / NET_SIZE
    scores = sigmoid(t[:, 4])[:, None] * sigmoid(t[:, 5:])        # [a, classes, gh, gw]
    out = []
    for a, c, i, j in zip(*np.nonzero(scores > thresh)):
        bx, by, bw, bh = x[a, i, j], y[a, i, j], w[a, i, j], h[a, i, j]
        out.append((int(c), float(scores[a, c, i, j]),
                    bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2))
    return out


def iou(a, b):
    """Intersection over union of two detections (class, score, x0, y0, x1, y1)."""
    iw = min(a[4], b[4]) - max(a[2], b[2])
    ih = min(a[5], b[5]) - max(a[3], b[3])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[4] - a[2]) * (a[5] - a[3]) + (b[4] - b[2]) * (b[5] - b[3]) - inter
    return inter / union


def nms(dets, threshold):
    """Greedy per-class NMS: visit by descending score (stable, so ties keep decode order:
    out13 before out26, then anchor, class, row, column) and drop a detection whose IoU with
    an already kept one of the same class exceeds threshold."""
    kept = []
    for det in sorted(dets, key=lambda d: -d[1]):
        if all(k[0] != det[0] or iou(k, det) <= threshold for k in kept):
            kept.append(det)
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("names")
    ap.add_argument("images", nargs="+")
    ap.add_argument("--thresh", type=float, default=0.25)
    ap.add_argument("--nms", type=float, default=0.45)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts to time")
    ap.add_argument("--resize", choices=("darknet", "pil"), default="darknet",
                    help="plain (non-letterbox) resize: Darknet's resize_image or Pillow bilinear")
    args = ap.parse_args()

    with open(args.names, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    sessions = {}
    for n in (int(v) for v in args.threads.split(",")):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = n
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sessions[n] = ort.InferenceSession(args.model, opts, providers=["CPUExecutionProvider"])

    for path in args.images:
        tensor, (width, height) = preprocess(path, args.resize)
        first = next(iter(sessions.values()))
        out_names = [o.name for o in first.get_outputs()]
        raw = dict(zip(out_names, first.run(out_names, {"input": tensor})))
        dets = []
        for name, mask in MASKS.items():
            dets += decode(raw[name], mask, args.thresh)
        dets = nms(dets, args.nms)
        print(f"# {path} ({width}x{height}, resize={args.resize}): {len(dets)} detections")
        for c, score, x0, y0, x1, y1 in dets:
            # Clip to the image as Darknet's draw/print code does.
            x0, x1 = (min(max(v * width, 0.0), width) for v in (x0, x1))
            y0, y1 = (min(max(v * height, 0.0), height) for v in (y0, y1))
            print(f"{names[c]} {score:.4f} {x0:.1f} {y0:.1f} {x1:.1f} {y1:.1f}")
        for n, session in sessions.items():
            session.run(out_names, {"input": tensor})                # warm-up
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                session.run(out_names, {"input": tensor})
                times.append((time.perf_counter() - start) * 1000)
            print(f"# inference, {n} intra-op thread(s): median {statistics.median(times):.1f} ms "
                  f"over {args.runs} runs (min {min(times):.1f})")


if __name__ == "__main__":
    main()
