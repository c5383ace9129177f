#!/usr/bin/env python3
"""Convert a Darknet YOLO model (.cfg + .weights) to ONNX.

Usage: python3 scripts/darknet2onnx.py CFG WEIGHTS OUT.onnx

Written for yolov4-tiny (and yolov3-tiny-style nets) and needs only `onnx` and `numpy`.
The graph has one input, `input` (float32 [1, 3, H, W], RGB scaled to 0..1, H/W from [net]),
and one output per [yolo] layer: the RAW head convolution that feeds it (no sigmoid, no box
decoding), named `out<grid>` after its grid size, e.g. `out13` [1, 255, 13, 13] and
`out26` [1, 255, 26, 26]. Decoding (sigmoid, scale_x_y, anchors, thresholds, NMS) is left to
the caller; see scripts/yolo_reference.py.

Supported layer types: convolutional (batch_normalize folded into the conv weights and bias;
activation leaky (0.1) or linear), maxpool (Darknet's asymmetric padding), route (several
layers, and groups/group_id), upsample (nearest), yolo. Anything else is rejected.

The output bytes depend only on the inputs (no timestamps, fixed IR and opset versions), so
the printed sha256 can be pinned. The weights header is checked and every float in the
weights file must be consumed, or the conversion fails.
"""

import hashlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13          # Conv, MaxPool, LeakyRelu, Slice, Concat, Resize: all stable since 13
IR_VERSION = 7      # the IR version that goes with opset 13; pinned so that the bytes do not
                    # depend on which onnx release wrote them
BN_EPS = 1e-5       # Darknet (AlexeyAB) fuse_conv_batchnorm: scale / sqrt(var + .00001)
                    # (OpenCV's Darknet importer uses 1e-6: raw outputs differ by ~1e-3)


def parse_cfg(path):
    """Return the cfg as a list of (type, {key: value-string}) in file order."""
    sections = []
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.split("#", 1)[0].split(";", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                sections.append((line.strip("[]").strip(), {}))
            else:
                key, value = line.split("=", 1)
                sections[-1][1][key.strip()] = value.strip()
    return sections


class Weights:
    """Sequential reader of a Darknet .weights file (header, then float32 blobs)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        major, minor, revision = np.frombuffer(data, "<i4", 3)
        # "seen" (images trained on) is int64 from version 0.2 on, int32 before.
        seen_bytes = 8 if major * 10 + minor >= 2 else 4
        if major >= 1000 or minor >= 1000:
            raise ValueError(f"implausible weights header {major}.{minor}.{revision}")
        self.header = (int(major), int(minor), int(revision))
        self.floats = np.frombuffer(data, "<f4", offset=12 + seen_bytes)
        if (len(data) - 12 - seen_bytes) % 4:
            raise ValueError("weights payload is not a whole number of float32s")
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.floats):
            raise ValueError(f"weights file too short: need {n} floats at {self.pos}, "
                             f"have {len(self.floats) - self.pos}")
        out = self.floats[self.pos:self.pos + n].astype(np.float32)
        self.pos += n
        return out


def convert(cfg_path, weights_path):
    sections = parse_cfg(cfg_path)
    if not sections or sections[0][0] not in ("net", "network"):
        raise ValueError("cfg must start with [net]")
    net = sections[0][1]
    channels, height, width = int(net.get("channels", 3)), int(net["height"]), int(net["width"])
    weights = Weights(weights_path)

    nodes, inits, outputs = [], [], []
    # Per Darknet layer: (tensor name, channels, height, width). Route indices refer to this.
    layers = []
    prev = ("input", channels, height, width)

    for index, (kind, opt) in enumerate(sections[1:]):
        name_in, c, h, w = prev
        tag = f"l{index:03d}"

        if kind == "convolutional":
            filters, size = int(opt["filters"]), int(opt["size"])
            stride = int(opt.get("stride", 1))
            groups = int(opt.get("groups", 1))
            pad = size // 2 if int(opt.get("pad", 0)) else int(opt.get("padding", 0))
            activation = opt.get("activation", "logistic")
            if int(opt.get("dilation", 1)) != 1 or "stride_x" in opt or "stride_y" in opt:
                raise ValueError(f"layer {index}: dilation / stride_x / stride_y not supported")
            # Darknet order: biases, [scales, rolling_mean, rolling_variance], weights.
            bias = weights.take(filters)
            if int(opt.get("batch_normalize", 0)):
                scale = weights.take(filters)
                mean = weights.take(filters)
                var = weights.take(filters)
            kernel = weights.take(filters * (c // groups) * size * size)
            kernel = kernel.reshape(filters, c // groups, size, size)
            if int(opt.get("batch_normalize", 0)):
                # y = scale * (conv(x) - mean) / sqrt(var + eps) + beta, folded into the conv
                # in float64 as Darknet's fuse_conv_batchnorm does, then rounded to float32.
                factor = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
                kernel = kernel.astype(np.float64) * factor[:, None, None, None]
                bias = bias.astype(np.float64) - mean.astype(np.float64) * factor
            inits.append(numpy_helper.from_array(kernel.astype(np.float32), f"{tag}_w"))
            inits.append(numpy_helper.from_array(bias.astype(np.float32), f"{tag}_b"))
            conv_out = f"{tag}_conv"
            nodes.append(helper.make_node(
                "Conv", [name_in, f"{tag}_w", f"{tag}_b"], [conv_out], name=f"{tag}_conv",
                kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4,
                group=groups))
            if activation == "leaky":
                out = f"{tag}_leaky"
                nodes.append(helper.make_node("LeakyRelu", [conv_out], [out],
                                              name=f"{tag}_leaky", alpha=0.1))
            elif activation == "linear":
                out = conv_out
            else:
                raise ValueError(f"layer {index}: activation {activation!r} not supported")
            c = filters
            h = (h + 2 * pad - size) // stride + 1
            w = (w + 2 * pad - size) // stride + 1
            prev = (out, c, h, w)

        elif kind == "maxpool":
            size = int(opt.get("size", 1))
            stride = int(opt.get("stride", 1))
            # Darknet: padding defaults to size-1, split as padding//2 before and the rest
            # after; out = (in + padding - size) // stride + 1. So size=2 stride=1 pads one
            # column/row on the right/bottom only. Padded cells never win (ONNX pads with -inf).
            padding = int(opt.get("padding", size - 1))
            before, after = padding // 2, padding - padding // 2
            if "stride_x" in opt or "stride_y" in opt or int(opt.get("maxpool_depth", 0)):
                raise ValueError(f"layer {index}: stride_x / stride_y / maxpool_depth not supported")
            out = f"{tag}_maxpool"
            nodes.append(helper.make_node(
                "MaxPool", [name_in], [out], name=out, kernel_shape=[size, size],
                strides=[stride, stride], pads=[before, before, after, after]))
            h = (h + padding - size) // stride + 1
            w = (w + padding - size) // stride + 1
            prev = (out, c, h, w)

        elif kind == "route":
            groups = int(opt.get("groups", 1))
            group_id = int(opt.get("group_id", 0))
            parts = []
            for ref in opt["layers"].split(","):
                ref = int(ref)
                src = layers[index + ref] if ref < 0 else layers[ref]
                s_name, s_c, s_h, s_w = src
                if groups > 1:
                    # Take the group_id-th of `groups` equal channel slices, as Darknet does.
                    part_c = s_c // groups
                    sliced = f"{tag}_slice{len(parts)}"
                    for const, values in (("starts", [part_c * group_id]),
                                          ("ends", [part_c * (group_id + 1)]), ("axes", [1])):
                        inits.append(numpy_helper.from_array(
                            np.array(values, np.int64), f"{sliced}_{const}"))
                    nodes.append(helper.make_node(
                        "Slice", [s_name, f"{sliced}_starts", f"{sliced}_ends", f"{sliced}_axes"],
                        [sliced], name=sliced))
                    s_name, s_c = sliced, part_c
                parts.append((s_name, s_c, s_h, s_w))
            if any((p[2], p[3]) != (parts[0][2], parts[0][3]) for p in parts):
                raise ValueError(f"layer {index}: route inputs differ in spatial size")
            if len(parts) == 1:
                out = parts[0][0]
            else:
                out = f"{tag}_concat"
                nodes.append(helper.make_node("Concat", [p[0] for p in parts], [out],
                                              name=out, axis=1))
            prev = (out, sum(p[1] for p in parts), parts[0][2], parts[0][3])

        elif kind == "upsample":
            stride = int(opt.get("stride", 2))
            if float(opt.get("scale", 1)) != 1.0 or stride < 1:
                raise ValueError(f"layer {index}: only plain upsampling (scale=1) is supported")
            out = f"{tag}_upsample"
            scales = f"{tag}_scales"
            inits.append(numpy_helper.from_array(
                np.array([1, 1, stride, stride], np.float32), scales))
            # Nearest neighbour, every source pixel repeated stride x stride times.
            nodes.append(helper.make_node(
                "Resize", [name_in, "", scales], [out], name=out, mode="nearest",
                coordinate_transformation_mode="asymmetric", nearest_mode="floor"))
            prev = (out, c, h * stride, w * stride)

        elif kind == "yolo":
            # The head conv is a graph output; the yolo layer passes it through unchanged.
            if h != w:
                raise ValueError(f"layer {index}: non-square grid {h}x{w}")
            head = f"out{h}"
            if any(o.name == head for o in outputs):
                raise ValueError(f"two yolo heads with grid {h}")
            if nodes and nodes[-1].op_type == "Conv" and nodes[-1].output[0] == name_in:
                nodes[-1].output[0] = head          # name the (linear) head conv itself
            else:
                nodes.append(helper.make_node("Identity", [name_in], [head], name=head))
            outputs.append(helper.make_tensor_value_info(head, TensorProto.FLOAT, [1, c, h, w]))
            prev = (head, c, h, w)

        else:
            raise ValueError(f"layer {index}: layer type [{kind}] not supported")

        layers.append(prev)

    if weights.pos != len(weights.floats):
        raise ValueError(f"weights not fully consumed: used {weights.pos} of "
                         f"{len(weights.floats)} floats (cfg and weights do not match)")
    if not outputs:
        raise ValueError("no [yolo] layer found")

    graph = helper.make_graph(
        nodes, "darknet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, height, width])],
        outputs, initializer=inits)
    model = helper.make_model(graph, producer_name="vigil-darknet2onnx", producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model, weights


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: darknet2onnx.py CFG WEIGHTS OUT.onnx\n")
        return 2
    cfg_path, weights_path, out_path = argv[1:]
    model, weights = convert(cfg_path, weights_path)
    data = model.SerializeToString()
    with open(out_path, "wb") as f:
        f.write(data)
    major, minor, revision = weights.header
    sys.stderr.write(f"weights v{major}.{minor}.{revision}: {weights.pos} floats consumed; "
                     f"outputs {[o.name for o in model.graph.output]}; {len(data)} bytes\n")
    print(f"{hashlib.sha256(data).hexdigest()}  {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
